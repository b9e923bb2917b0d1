"""Turn stored practice data into the engine's plain inputs (the only DB → engine bridge)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from .. import engine
from ..extensions import db
from ..models import Allocation, Appointment, Clinic, Disruption, Room, Shift, StaffMember
from ..models.disruption import PROPOSED, ROOM_CLOSURE, STAFF_ABSENCE
from ..rules.model import Protocol, SessionKind
from ..rules.routes import ROUTES
from . import calendar_cache

# Bookings further than this from the enrollment's start cannot matter to a placement (the
# engine's own earliest-date search looks a year ahead of plans that span at most a year more).
LOOKAHEAD_DAYS = 800


def _minutes(value: str | time) -> int:
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    return engine.parse_hhmm(value)


def closed_periods(stored: list | None) -> tuple[engine.BusyInterval, ...]:
    """``closed_periods`` as stored on a clinic or room (ISO instants) for the engine."""
    return tuple(engine.BusyInterval(datetime.fromisoformat(p["start"]),
                                     datetime.fromisoformat(p["end"])) for p in stored or ())


def clinic_input(clinic: Clinic, removed: Removed | None = None) -> engine.Clinic:
    extra = removed.clinics.get(clinic.id, ()) if removed else ()
    return engine.Clinic(
        id=clinic.id,
        timezone=clinic.timezone,
        hours={day: tuple(_window(s, e) for s, e in windows)
               for day, windows in (clinic.hours or {}).items()},
        closures=frozenset(date.fromisoformat(d) for d in clinic.closures or []),
        certifications=frozenset(clinic.certifications or []),
        closed_periods=closed_periods(clinic.closed_periods) + tuple(extra),
        slot_minutes=clinic.slot_minutes or engine.DEFAULT_SLOT_MINUTES,
    )


def _window(start: str | time, end: str | time) -> tuple[int, int]:
    """A stored window in the engine's minutes; one that crosses midnight ends after 1440."""
    lo = _minutes(start)
    return lo, engine.overnight_end(lo, _minutes(end))


def staff_input(member: StaffMember, removed: Removed | None = None) -> engine.StaffMember:
    extra = removed.staff.get(member.id, ()) if removed else ()
    return engine.StaffMember(
        id=member.id,
        roles=frozenset(member.roles),
        max_concurrent_patients=member.max_concurrent_patients,
        shifts=tuple(engine.Shift(s.clinic_id, s.weekday, *_window(s.start, s.end))
                     for s in member.shifts),
        time_off=tuple(engine.TimeOff(start=t.start, end=t.end) for t in member.time_off)
        + tuple(engine.TimeOff(start=p.start, end=p.end) for p in extra),
    )


def room_input(room: Room, removed: Removed | None = None) -> engine.Room:
    extra = removed.rooms.get(room.id, ()) if removed else ()
    return engine.Room(id=room.id, features=frozenset(room.features), capacity=room.capacity,
                       turnover_minutes=room.turnover_minutes,
                       closed_periods=closed_periods(room.closed_periods) + tuple(extra))


@dataclass
class Removed:
    """What open disruption proposals take away (SPEC 8: new placements already avoid it)."""

    staff: dict[int, list[engine.BusyInterval]] = field(default_factory=dict)
    rooms: dict[int, list[engine.BusyInterval]] = field(default_factory=dict)
    clinics: dict[int, list[engine.BusyInterval]] = field(default_factory=dict)


def removed_by_proposals(window_start: datetime, window_end: datetime,
                         now: datetime | None = None) -> Removed:
    removed = Removed()
    now = now or datetime.now(UTC)
    query = select(Disruption).where(
        Disruption.status == PROPOSED, Disruption.starts_at < window_end,
        Disruption.ends_at > window_start,
        or_(Disruption.hold_expires_at.is_(None), Disruption.hold_expires_at > now))
    for d in db.session.scalars(query):
        period = engine.BusyInterval(d.starts_at, d.ends_at)
        if d.kind == STAFF_ABSENCE:
            removed.staff.setdefault(d.staff_id, []).append(period)
        elif d.kind == ROOM_CLOSURE:
            removed.rooms.setdefault(d.room_id, []).append(period)
        else:
            removed.clinics.setdefault(d.clinic_id, []).append(period)
    return removed


def practice_for(clinic: Clinic, kinds: dict[str, SessionKind], *, patient_id: int | None,
                 window_start: datetime, window_end: datetime,
                 ignore_appointment_ids: frozenset[int] = frozenset(),
                 removed: Removed | None = None,
                 patient_ids: Sequence[int] = (), indexed: bool = False) -> engine.Practice:
    """The clinic's rooms, staff and every active allocation that could collide in the window.

    Staff allocations are loaded across all clinics: a person who also works elsewhere cannot be
    in two places. The patient's own allocations (or those of ``patient_ids``, for a batch) come
    along so they are never double-booked. Slots held by open disruption proposals are
    allocations like any other; what the proposals take away (``removed``, by default read
    from the open proposals) is closed or absent here.

    Room and staff bookings come from this worker's copy of the clinic's calendar, brought up
    to date with the changes since it was read (``calendar_cache``); a window before its floor,
    an indexed request that leaves some appointments out, or a transaction that already wrote
    to the calendar reads them directly. Either way the bookings are the same. ``indexed``: hand the
    engine an already built index that also iterates as the allocations (placement's
    ``Calendar.practice``; a repair keeps its own index and wants the plain sequence).
    """
    rooms = list(db.session.scalars(
        select(Room).where(Room.clinic_id == clinic.id, Room.deleted_at.is_(None))
        .order_by(Room.id)))
    staff = list(db.session.scalars(
        select(StaffMember)
        .where(StaffMember.deleted_at.is_(None),
               StaffMember.id.in_(select(Shift.staff_id).where(Shift.clinic_id == clinic.id)))
        .order_by(StaffMember.id)))
    room_ids, staff_ids = tuple(r.id for r in rooms), tuple(s.id for s in staff)
    patients = sorted({*patient_ids, *(() if patient_id is None else (patient_id,))})
    in_window = (Allocation.active.is_(True), Allocation.starts_at < window_end,
                 Allocation.ends_at > window_start)
    not_ignored = () if not ignore_appointment_ids else (
        or_(Allocation.appointment_id.is_(None),
            Allocation.appointment_id.not_in(ignore_appointment_ids)),)
    bookings: object
    if (not (ignore_appointment_ids and indexed)
            and window_start >= calendar_cache.floor_now()
            and not calendar_cache.transaction_wrote_calendar()):
        copy = calendar_cache.current_copy(clinic.id, room_ids, staff_ids)
        own = calendar_cache.read_allocations(
            Allocation.resource_type == "patient", Allocation.resource_id.in_(patients),
            *in_window, *not_ignored) if patients else []
        if indexed:  # (never with appointments left out: see the condition above)
            bookings = calendar_cache.IndexedBookings(
                calendar_cache.window_units(copy, calendar_cache.to_seconds(window_start),
                                            calendar_cache.to_seconds(window_end)),
                lambda: calendar_cache.window_allocations(copy, window_start, window_end), own)
        else:  # a re-plan leaves the plans' own bookings out, by allocation id
            skip = calendar_cache.allocation_ids_of(ignore_appointment_ids)
            bookings = (*calendar_cache.window_allocations(copy, window_start, window_end, skip),
                        *own)
    else:
        bookings = tuple(_read_bookings(room_ids, staff_ids, patients, in_window,
                                        not_ignored))
    if removed is None:
        removed = removed_by_proposals(window_start, window_end)
    return engine.Practice(
        clinic=clinic_input(clinic, removed),
        rooms=tuple(room_input(r, removed) for r in rooms),
        staff=tuple(staff_input(s, removed) for s in staff),
        kinds=kinds,
        routes=ROUTES,
        bookings=bookings,
    )


def _read_bookings(room_ids, staff_ids, patients, in_window, not_ignored
                   ) -> list[engine.Allocation]:
    """The window's bookings read directly (plain columns, no ORM objects)."""
    resources = calendar_cache.resource_terms(room_ids, staff_ids)
    if patients:
        resources.append(and_(Allocation.resource_type == "patient",
                              Allocation.resource_id.in_(patients)))
    if not resources:
        return []
    return calendar_cache.read_allocations(*in_window, or_(*resources), *not_ignored)


def patient_busy(bookings, patient_id: int | None):
    if isinstance(bookings, calendar_cache.IndexedBookings):
        bookings = bookings.patients
    return tuple(engine.BusyInterval(a.start, a.end) for a in bookings
                 if a.resource_type == "patient" and a.resource_id == patient_id)


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def plan_window(start_on: date, tz: str, reach_days: int | None = None
                ) -> tuple[datetime, datetime]:
    """The span of bookings to load: the plan's reach when known, else the full lookahead."""
    start = local_midnight(start_on, tz) - timedelta(days=2)
    return start, start + timedelta(days=(reach_days or LOOKAHEAD_DAYS) + 4)


def plan_reach_days(protocol: Protocol, horizon_days: int, start_within_days: int) -> int | None:
    """An upper bound on how many days after the start date a successful plan can reach.

    Loading only the bookings in that span keeps a placement's read proportional to the plan,
    not to the clinic's whole future. None when a phase has no upper bound (an ``after``
    without ``max_days``, or a series without ``gap_days``/``within_days``): then the caller
    loads everything. The bound only has to be safe: the booking service still checks that
    every placed session ends inside the loaded span.
    """
    ends: dict[str, int] = {}
    previous_end = start_within_days
    for phase in protocol.placement_order():
        if phase.after is not None:
            if phase.after.max_days is None or phase.after.phase not in ends:
                return None
            first = ends[phase.after.phase] + phase.after.max_days
        elif not ends:
            first = start_within_days
        else:
            return None
        if phase.count is None:
            span = min(phase.until_days or horizon_days, horizon_days)
        elif phase.within_days is not None:
            span = phase.within_days
        elif phase.count == 1:
            span = 0
        elif phase.gap_days is not None:
            span = (phase.count - 1) * phase.gap_days.max
        else:
            return None
        end = first + span
        if phase.follow_up is not None:
            end += int(phase.follow_up.max_hours // 24) + 2
        ends[phase.name] = previous_end = max(end, previous_end)
    return max(previous_end, horizon_days) + 1


def appointment_to_placed(appt: Appointment) -> engine.PlacedSession:
    """A stored appointment as the engine's placed session (for rescheduling)."""
    room_ids = [a.resource_id for a in appt.allocations if a.resource_type == "room"]
    staff_ids = list(dict.fromkeys(a.resource_id for a in appt.allocations
                                   if a.resource_type == "staff"))
    return engine.PlacedSession(
        key=appt.key, phase=appt.phase, kind=appt.session_kind, start=appt.starts_at,
        end=appt.ends_at,
        allocations=tuple(engine.Allocation(a.resource_type, a.resource_id, a.unit,
                                            a.starts_at, a.ends_at) for a in appt.allocations),
        room_id=room_ids[0] if room_ids else None, staff_ids=tuple(staff_ids),
        follow_up_of=appt.parent_key,
    )
