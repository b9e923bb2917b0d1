"""Per-worker copies of each clinic's bookings that are never stale (issue 16).

A placement needs every active room and staff allocation its plan can reach: thousands of rows
in a busy clinic. Reading and converting them on every request was most of a request's cost,
so each worker keeps, per clinic, the active allocations of the clinic's rooms and staff (the
staff's in every clinic) from a floor a week back on, together with the engine's per-unit
interval lists, and brings them up to date on every use:

- every allocation change moves its owning clinic's ``calendar_version`` and logs
  ``(clinic, version, allocation id)`` in ``calendar_changes``, by trigger, in the transaction
  of the change (migration 0010);
- a reader first reads every clinic's version (one small query), then the change log between
  the versions it holds and those, then the current state of just those allocations. One
  clinic's versions commit in order (the trigger holds the clinic row until commit), so a
  reader that saw version v sees every change logged up to v: what it applies is never older
  than the versions it records (at worst newer, which the next use re-reads again);
- a transaction that itself wrote to the calendar does not touch the shared copy (its changes
  may still roll back) and reads directly instead (see ``transaction_wrote_calendar``);
- a clinic row re-created under the same id (a restored or emptied database) has another
  ``created_at``: its copy is read again in full, as when the clinic's resources changed or
  the floor moved (once a day).

The copy only stands in for a read of the same rows: ``snapshot.practice_for`` gives the
engine exactly what reading the window would (tests compare both on a seeded practice).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, distinct, event, exc, func, or_, select, type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.types import NullType

from .. import engine
from ..engine.localtime import to_seconds
from ..extensions import db
from ..models import Allocation, CalendarChange, Clinic
from ..models.types import utcnow
from .transaction import atomic

UnitKey = tuple[str, int, int]

FLOOR_DAYS = 8
"""The copy holds allocations ending after midnight UTC this many days ago (windows that start
earlier are read directly)."""
MAX_CHANGES = 20_000
"""Beyond this many logged changes since the held versions, read everything again instead."""

# ---------------------------------------------------------------- raw, fast reads

_RAW = NullType()


def raw(column):
    """A column read as the driver gives it: no per-value type processing."""
    return type_coerce(column, _RAW)


class Instants:
    """Driver values → aware UTC datetimes, memoised (bookings share few distinct instants)."""

    def __init__(self) -> None:
        self.seen: dict[object, datetime] = {}

    def __call__(self, value) -> datetime:
        moment = self.seen.get(value)
        if moment is None:
            if isinstance(value, str):  # SQLite: UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]'
                moment = datetime.fromisoformat(value)
            else:
                moment = value
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None \
                else moment.astimezone(UTC)
            self.seen[value] = moment
        return moment


_new = object.__new__
_set = object.__setattr__


def allocation(resource_type: str, resource_id: int, unit: int, start: datetime,
               end: datetime) -> engine.Allocation:
    """An ``engine.Allocation`` of values that are aware by construction (``Instants``),
    without re-checking each one."""
    a = _new(engine.Allocation)
    _set(a, "resource_type", resource_type)
    _set(a, "resource_id", resource_id)
    _set(a, "unit", unit)
    _set(a, "start", start)
    _set(a, "end", end)
    return a


ALLOCATION_COLUMNS = (Allocation.resource_type, Allocation.resource_id, Allocation.unit,
                      raw(Allocation.starts_at), raw(Allocation.ends_at))


def read_allocations(*conditions) -> list[engine.Allocation]:
    instant = Instants()
    rows = db.session.execute(select(*ALLOCATION_COLUMNS).where(*conditions)).all()
    return [allocation(rt, rid, unit, instant(s), instant(e)) for rt, rid, unit, s, e in rows]


# ---------------------------------------------------------------- own writes

_WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)
CALENDAR_TABLES = frozenset({"allocations", "appointments", "disruptions", "clinics",
                             "calendar_changes"})
_WROTE = "regimen_calendar_written"


@event.listens_for(Engine, "before_cursor_execute")
def _note_calendar_writes(conn, cursor, statement, parameters, context, executemany):
    match = _WRITE.match(statement)
    if match and match.group(1).lower() in CALENDAR_TABLES:
        conn.info[_WROTE] = True


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _forget_calendar_writes(conn):
    if conn.invalidated:  # the connection died: its info goes with it (a new one starts clean)
        return
    try:
        conn.info.pop(_WROTE, None)
    except exc.SQLAlchemyError:  # a transaction already invalid: nothing of it will commit
        pass


def transaction_wrote_calendar() -> bool:
    """Whether this session's transaction has written anything that moves a calendar version
    (uncommitted: another worker must not see it through a shared copy)."""
    return bool(db.session.connection().info.get(_WROTE))


# ---------------------------------------------------------------- the copy

@dataclass
class ClinicCopy:
    resources: tuple[tuple[int, ...], tuple[int, ...]]
    floor: datetime
    versions: dict[int, tuple[object, int]]
    """clinic id → (created_at as stored, calendar_version) this copy is up to date with."""
    allocations: dict[int, engine.Allocation] = field(default_factory=dict)
    by_unit: dict[UnitKey, set[int]] = field(default_factory=dict)
    units: dict[UnitKey, tuple[list[int], list[int]]] = field(default_factory=dict)
    reads: int = 0
    """How many times it was read in full or brought up to date (for tests and benchmarks)."""

    def put(self, alloc_id: int, a: engine.Allocation) -> None:
        self.allocations[alloc_id] = a
        self.by_unit.setdefault((a.resource_type, a.resource_id, a.unit), set()).add(alloc_id)

    def drop(self, alloc_id: int) -> UnitKey | None:
        a = self.allocations.pop(alloc_id, None)
        if a is None:
            return None
        key = (a.resource_type, a.resource_id, a.unit)
        self.by_unit[key].discard(alloc_id)
        return key

    def successor(self, keys: set[UnitKey], versions) -> ClinicCopy:
        """A copy to change in ``keys`` only, sharing the rest: a copy once handed out is
        never changed (another thread may be reading it)."""
        new = ClinicCopy(self.resources, self.floor, versions, dict(self.allocations),
                         dict(self.by_unit), dict(self.units), self.reads + 1)
        for key in keys:
            if key in new.by_unit:
                new.by_unit[key] = set(new.by_unit[key])
        return new

    def rebuild(self, keys: Iterable[UnitKey]) -> None:
        for key in keys:
            ids = self.by_unit.get(key)
            if not ids:
                self.by_unit.pop(key, None)
                self.units.pop(key, None)
                continue
            built = engine.BookingIndex.from_allocations(self.allocations[i] for i in ids)
            self.units[key] = built.unit(key)


_lock = threading.Lock()
_copies: dict[int, ClinicCopy] = {}


def clear() -> None:
    with _lock:
        _copies.clear()


def copy_for(clinic_id: int) -> ClinicCopy | None:
    return _copies.get(clinic_id)


def floor_now() -> datetime:
    today = utcnow().date()
    return datetime.combine(today - timedelta(days=FLOOR_DAYS), datetime.min.time(), UTC)


def _versions() -> dict[int, tuple[object, int]]:
    rows = db.session.execute(select(Clinic.id, raw(Clinic.created_at),
                                     Clinic.calendar_version))
    return {cid: (created, version) for cid, created, version in rows}


def resource_terms(rooms: tuple[int, ...], staff: tuple[int, ...]) -> list:
    """SQL terms selecting the allocations of these rooms and staff members."""
    terms = []
    if rooms:
        terms.append(and_(Allocation.resource_type == "room", Allocation.resource_id.in_(rooms)))
    if staff:
        terms.append(and_(Allocation.resource_type == "staff",
                          Allocation.resource_id.in_(staff)))
    return terms


def _full(clinic_id, rooms, staff, floor, versions) -> ClinicCopy:
    copy = ClinicCopy((rooms, staff), floor, versions)
    terms = resource_terms(rooms, staff)
    if terms:
        instant = Instants()
        rows = db.session.execute(
            select(Allocation.id, *ALLOCATION_COLUMNS)
            .where(Allocation.active.is_(True), or_(*terms), Allocation.ends_at > floor))
        for alloc_id, rt, rid, unit, s, e in rows:
            copy.put(alloc_id, allocation(rt, rid, unit, instant(s), instant(e)))
        index = engine.BookingIndex.from_allocations(copy.allocations.values())
        copy.units = {key: index.unit(key) for key in copy.by_unit}
    copy.reads = 1
    return copy


def _catch_up(copy: ClinicCopy, versions: dict[int, tuple[object, int]]
              ) -> ClinicCopy | None:
    """The copy with the changes logged since ``copy.versions`` applied (the same object when
    nothing changed); None when a full read is due."""
    spans = []
    for cid, (created, version) in versions.items():
        held = copy.versions.get(cid)
        if held is None:
            held = (created, 0)
        if held[0] != created or held[1] > version:
            return None
        if version > held[1]:
            spans.append(and_(CalendarChange.clinic_id == cid, CalendarChange.version > held[1],
                              CalendarChange.version <= version))
    if any(cid not in versions for cid in copy.versions):
        return None
    if not spans:
        return copy
    changed = list(db.session.scalars(
        select(CalendarChange.allocation_id)
        .where(or_(*spans), CalendarChange.allocation_id.is_not(None)).distinct()
        .limit(MAX_CHANGES + 1)))
    if len(changed) > MAX_CHANGES:
        return None
    # After the read, not before: pruning only deletes, so a log still complete now was
    # complete when read (PostgreSQL reads each statement at its own moment).
    if not _log_complete(spans, copy.versions, versions):
        return None
    rooms, staff = copy.resources
    resources = {("room", r) for r in rooms} | {("staff", s) for s in staff}
    instant = Instants()
    current = {}
    for start in range(0, len(changed), 1000):
        for row in db.session.execute(
                select(Allocation.id, Allocation.active, *ALLOCATION_COLUMNS)
                .where(Allocation.id.in_(changed[start:start + 1000]))):
            current[row[0]] = row
    old_keys = {(a.resource_type, a.resource_id, a.unit)
                for a in (copy.allocations.get(i) for i in changed) if a is not None}
    new_rows = {}
    for alloc_id in changed:
        row = current.get(alloc_id)
        if row is None:
            continue
        _, active, rt, rid, unit, s, e = row
        if not active or (rt, rid) not in resources:
            continue
        a = allocation(rt, rid, unit, instant(s), instant(e))
        if a.end > copy.floor:
            new_rows[alloc_id] = a
    touched = old_keys | {(a.resource_type, a.resource_id, a.unit) for a in new_rows.values()}
    new = copy.successor(touched, versions)
    for alloc_id in changed:
        new.drop(alloc_id)
    for alloc_id, a in new_rows.items():
        new.put(alloc_id, a)
    new.rebuild(touched)
    return new


def _log_complete(spans, held, versions) -> bool:
    """Whether the log still holds every version the copy must apply (``prune_changes`` may
    have deleted old ones): versions are consecutive, each logged by at least one row."""
    counts = dict(db.session.execute(
        select(CalendarChange.clinic_id, func.count(distinct(CalendarChange.version)))
        .where(or_(*spans)).group_by(CalendarChange.clinic_id)).all())
    return all(counts.get(cid, 0) == version - held.get(cid, (created, 0))[1]
               for cid, (created, version) in versions.items()
               if version > held.get(cid, (created, 0))[1])


KEEP_VERSIONS = MAX_CHANGES
"""``prune_changes`` keeps this many of each clinic's latest versions in the log; a copy older
than that reads everything again (it would have had to past ``MAX_CHANGES`` anyway)."""


def prune_changes(keep_versions: int = KEEP_VERSIONS) -> int:
    """Job: delete each clinic's logged changes older than its latest ``keep_versions``
    versions; rows deleted. A copy that needed them notices the gap and reads again."""
    current = (select(Clinic.calendar_version).where(Clinic.id == CalendarChange.clinic_id)
               .scalar_subquery())
    with atomic():
        result = db.session.execute(delete(CalendarChange).where(
            CalendarChange.version <= current - keep_versions))
    return result.rowcount or 0


def current_copy(clinic_id: int, rooms: tuple[int, ...], staff: tuple[int, ...]
                 ) -> ClinicCopy:
    """This worker's copy of the clinic's room and staff bookings, brought up to date inside
    the caller's transaction (which must not have written to the calendar)."""
    versions = _versions()  # first: everything read after it is at least this new
    floor = floor_now()
    with _lock:
        held = _copies.get(clinic_id)
        copy = None
        if held is not None and held.resources == (rooms, staff) and held.floor == floor:
            copy = _catch_up(held, versions)
        if copy is None:
            copy = _full(clinic_id, rooms, staff, floor, versions)
            copy.reads += held.reads if held is not None else 0
        _copies[clinic_id] = copy
        return copy


# ---------------------------------------------------------------- what the engine gets

def window_units(copy: ClinicCopy, start: int, end: int
                 ) -> dict[UnitKey, tuple[list[int], list[int]]]:
    """The copy's interval lists cut to [start, end): what ``BookingIndex.from_allocations``
    of the window's allocations holds (fresh lists: the engine may keep them)."""
    out = {}
    for key, (starts, ends) in copy.units.items():
        lo = bisect_right(ends, start)
        hi = bisect_left(starts, end)
        if lo < hi:
            out[key] = (starts[lo:hi], ends[lo:hi])
    return out


def window_allocations(copy: ClinicCopy, window_start: datetime, window_end: datetime,
                       skip: frozenset[int] = frozenset()) -> list[engine.Allocation]:
    """The copy's allocations in the window, but those whose ids are in ``skip``."""
    return [a for alloc_id, a in copy.allocations.items()
            if a.start < window_end and a.end > window_start and alloc_id not in skip]


def allocation_ids_of(appointment_ids: Iterable[int]) -> frozenset[int]:
    """The ids of the appointments' allocations (to leave them out of a copy's window)."""
    ids = sorted(appointment_ids)
    if not ids:
        return frozenset()
    found: set[int] = set()
    for start in range(0, len(ids), 1000):
        found.update(db.session.scalars(select(Allocation.id).where(
            Allocation.appointment_id.in_(ids[start:start + 1000]))))
    return frozenset(found)


class IndexedBookings(engine.BookingIndex):
    """The bookings of a window both ways the engine and the services read them: a built
    ``BookingIndex`` (so a placement skips building one) and, iterated, the same allocations
    as a sequence (listed on first use)."""

    def __init__(self, units: dict, allocations, patients: list[engine.Allocation]) -> None:
        super().__init__()
        self._units = units
        self._lazy = allocations
        self._list: list[engine.Allocation] | None = None
        self.patients = patients
        for a in patients:
            self.add((a.resource_type, a.resource_id, a.unit), to_seconds(a.start),
                     to_seconds(a.end))
        self.count = sum(len(s) for s, _ in units.values())

    def _all(self) -> list[engine.Allocation]:
        if self._list is None:
            self._list = [*self._lazy(), *self.patients]
        return self._list

    def __iter__(self) -> Iterator[engine.Allocation]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, i):
        return self._all()[i]

    def __bool__(self) -> bool:
        return bool(self._units) or bool(self.patients)
