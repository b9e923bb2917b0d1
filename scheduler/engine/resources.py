"""Choosing a room, staff and units for one session at one candidate start.

Allocation semantics (what the database's exclusion constraint will see):

- room: one unit (chair) from the first segment's start to the last segment's end plus the
  room's ``turnover_minutes``; the turnover may run past closing time (cleaning after hours),
  but the segments themselves lie inside opening hours;
- each staff need: one person, on shift at this clinic and not on time off for every segment
  the need names; an ``exclusive`` segment takes all of the person's units, a ``shared`` segment
  one unit, the same unit across consecutive shared segments when it is free throughout;
  contiguous allocations of a unit are merged;
- the patient: unit 0 over the whole session;
- different needs of one session are held by different people, chosen jointly: a person who
  holds two roles is kept for the need only they can fill (a small search over the needs in
  preference order, so the first choice is the greedy one whenever that works);
- ``prescriber_on_site`` (or a route that requires it): during every dose segment some
  prescriber is on shift at the clinic and not on time off; nothing is booked for them.

A miss reports, per failing component, a lower bound on the next start that could work, so the
caller can jump over busy stretches instead of trying every grid point.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from scheduler.rules import codes
from scheduler.rules.model import WEEKDAYS, SessionKind

from .index import Occupancy
from .inputs import Clinic, ResourceId, Room, StaffMember
from .localtime import LocalClock, LocalDay, to_seconds

AllocTuple = tuple[str, ResourceId, int, int, int]
"""(resource_type, resource_id, unit, start, end) with UTC epoch seconds."""

ROLE_PRESCRIBER = "prescriber"


@dataclass(frozen=True, slots=True)
class NeedSpec:
    role: str
    coverage: tuple[tuple[int, int], ...]
    """Contiguous stretches (offsets in seconds) the person must be on shift for."""
    exclusive: tuple[tuple[int, int], ...]
    shared_runs: tuple[tuple[tuple[int, int], ...], ...]
    """Runs of consecutive shared segments; each run is a tuple of segment offsets."""
    candidates: tuple[int, ...]
    """Staff positions (in the practice's order) holding the role."""


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: SessionKind
    duration: int
    rooms: tuple[int, ...]
    """Positions of rooms having every required feature, in the practice's order."""
    needs: tuple[NeedSpec, ...]
    dose_segments: tuple[tuple[int, int], ...]
    prescriber_on_site: bool


@dataclass(slots=True)
class Assignment:
    room_id: ResourceId | None
    staff_ids: tuple[ResourceId, ...]
    allocations: tuple[AllocTuple, ...]


@dataclass(slots=True)
class Miss:
    hint: int
    """No start before this instant can satisfy the failing components."""
    codes: list[str] = field(default_factory=list)
    """Failing components, e.g. 'room', 'staff_shift:nurse', 'staff_busy:nurse'."""


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _coverage_hint(windows: list[tuple[int, int]], start: int, end: int, day_end: int) -> int:
    """``start`` if [start, end) lies inside one window, else the earliest later start that
    could fit inside a window of this day (or the day's end)."""
    length = end - start
    for ws, we in windows:
        if we <= start:
            continue
        begin = ws if ws > start else start
        if we - begin >= length:
            return begin
    return day_end


class ResourceFinder:
    """Rooms, staff and shift calendars of one clinic, with per-day caches."""

    def __init__(self, clinic: Clinic, rooms: Sequence[Room], staff: Sequence[StaffMember],
                 clock: LocalClock, occupancy: Occupancy) -> None:
        self.clinic = clinic
        self.rooms = tuple(rooms)
        self.staff = tuple(staff)
        self.clock = clock
        self.occupancy = occupancy
        self._room_keys = [[("room", r.id, u) for u in range(r.capacity)] for r in self.rooms]
        self._staff_keys = [[("staff", p.id, u) for u in range(p.max_concurrent_patients)]
                            for p in self.staff]
        self._time_off = [_merge([(to_seconds(t.start), to_seconds(t.end)) for t in p.time_off])
                          for p in self.staff]
        self._on_duty: dict[tuple[int, date], list[tuple[int, int]]] = {}
        self._specs: dict[str, KindSpec] = {}
        self.prescribers = tuple(i for i, p in enumerate(self.staff)
                                 if ROLE_PRESCRIBER in p.roles and self._works_here(p))
        self.room_position = {r.id: i for i, r in enumerate(self.rooms)}
        self.staff_position = {p.id: i for i, p in enumerate(self.staff)}

    def _works_here(self, person: StaffMember) -> bool:
        return any(s.clinic_id == self.clinic.id for s in person.shifts)

    # -- specs --------------------------------------------------------------------------

    def spec(self, kind: SessionKind, prescriber_required: bool = False) -> KindSpec:
        cache_key = f"{kind.code}|{int(prescriber_required)}"
        cached = self._specs.get(cache_key)
        if cached is not None:
            return cached
        offsets = [(seg, a * 60, b * 60) for seg, a, b in kind.segment_offsets()]
        rooms = ()
        if kind.needs_room:
            rooms = tuple(i for i, r in enumerate(self.rooms) if kind.room_features <= r.features)
        needs = tuple(self._need_spec(need.role, need.load_for, offsets) for need in kind.staff)
        spec = KindSpec(
            kind=kind,
            duration=kind.duration_minutes * 60,
            rooms=rooms,
            needs=needs,
            dose_segments=tuple((a, b) for seg, a, b in offsets if seg.dose),
            prescriber_on_site=kind.prescriber_on_site or prescriber_required,
        )
        self._specs[cache_key] = spec
        return spec

    def _need_spec(self, role, load_for, offsets) -> NeedSpec:
        coverage: list[tuple[int, int]] = []
        exclusive: list[tuple[int, int]] = []
        shared_runs: list[list[tuple[int, int]]] = []
        previous = None
        for seg, a, b in offsets:
            load = load_for(seg.name)
            if load is None:
                previous = None
                continue
            if coverage and coverage[-1][1] == a and previous is not None:
                coverage[-1] = (coverage[-1][0], b)
            else:
                coverage.append((a, b))
            if load == "exclusive":
                exclusive.append((a, b))
            elif previous == "shared":
                shared_runs[-1].append((a, b))
            else:
                shared_runs.append([(a, b)])
            previous = load
        candidates = tuple(i for i, p in enumerate(self.staff)
                           if role in p.roles and self._works_here(p))
        return NeedSpec(role, tuple(coverage), tuple(exclusive),
                        tuple(tuple(r) for r in shared_runs), candidates)

    # -- shifts -------------------------------------------------------------------------

    def on_duty(self, position: int, info: LocalDay) -> list[tuple[int, int]]:
        """The person's shifts at this clinic that a session starting on the local day can use
        (the day's own and the previous night's that run into it), minus time off (UTC)."""
        key = (position, info.date)
        cached = self._on_duty.get(key)
        if cached is not None:
            return cached
        person = self.staff[position]
        before = info.date - timedelta(days=1)
        before_code = WEEKDAYS[before.weekday()]
        windows = [self.clock.window(info.date, s.start, s.end) for s in person.shifts
                   if s.clinic_id == self.clinic.id and s.weekday == info.weekday]
        windows += [self.clock.window(before, s.start, s.end) for s in person.shifts
                    if s.clinic_id == self.clinic.id and s.weekday == before_code
                    and s.end > 1440]  # last night's shift, still running
        windows = _merge(windows)
        off = self._time_off[position]
        if windows and off:
            windows = _subtract(windows, off)
        self._on_duty[key] = windows
        return windows

    # -- the check ----------------------------------------------------------------------

    def find(self, spec: KindSpec, t: int, info: LocalDay, *,
             room_order: Sequence[int] | None = None,
             staff_order: Sequence[Sequence[int]] | None = None,
             blockers: set[int] | None = None) -> Assignment | Miss:
        """Resources for a session of ``spec`` starting at ``t`` on local day ``info``."""
        occ = self.occupancy
        miss: Miss | None = None
        allocations: list[AllocTuple] = []
        room_id = None
        if spec.kind.needs_room:
            best = None
            hint = info.end
            for position in (room_order if room_order is not None else spec.rooms):
                room = self.rooms[position]
                length = spec.duration + room.turnover_minutes * 60
                for unit, key in enumerate(self._room_keys[position]):
                    free_at = occ.next_free(key, t, length, blockers)
                    if free_at == t:
                        best = (room, unit, length)
                        break
                    if free_at < hint:
                        hint = free_at
                if best is not None:
                    break
            if best is None:
                miss = Miss(hint, [codes.ROOM])
            else:
                room, unit, length = best
                room_id = room.id
                allocations.append(("room", room.id, unit, t, t + length))
        if spec.prescriber_on_site:
            hint = self._prescriber_hint(spec, t, info)
            if hint != t:
                miss = _add_miss(miss, hint, codes.PRESCRIBER_ON_SITE)
        staff_ids: list[ResourceId] = []
        if spec.needs:
            chosen = self._choose_staff(spec, t, info, staff_order, blockers)
            if isinstance(chosen, Miss):
                for code in chosen.codes:
                    miss = _add_miss(miss, chosen.hint, code)
            else:
                for position, held in chosen:
                    staff_ids.append(self.staff[position].id)
                    allocations.extend(held)
        if miss is not None:
            return miss
        return Assignment(room_id, tuple(staff_ids), tuple(allocations))

    def _prescriber_hint(self, spec: KindSpec, t: int, info: LocalDay) -> int:
        worst = t
        for a, b in spec.dose_segments:
            best = info.end - a
            for position in self.prescribers:
                begin = _coverage_hint(self.on_duty(position, info), t + a, t + b, info.end) - a
                if begin < best:
                    best = begin
                    if begin == t:
                        break
            if best > worst:
                worst = best
        return worst

    def _choose_staff(self, spec: KindSpec, t: int, info: LocalDay,
                      staff_order: Sequence[Sequence[int]] | None, blockers: set[int] | None):
        """One different person per need: the first in each need's order that keeps every
        later need fillable (depth-first over the needs; fits are checked lazily and once)."""
        needs = spec.needs
        orders = [staff_order[n] if staff_order is not None else need.candidates
                  for n, need in enumerate(needs)]
        if len(needs) == 1:  # the common case, without the bookkeeping
            on_shift_seen, hint = False, info.end
            for position in orders[0]:
                held, person_hint, on_shift = self._person(needs[0], position, t, info, blockers)
                if held is not None:
                    return [(position, held)]
                on_shift_seen = on_shift_seen or on_shift
                hint = min(hint, person_hint)
            code = (codes.STAFF_BUSY if on_shift_seen else codes.STAFF_SHIFT) + ":"
            return Miss(max(hint, t + 1), [code + needs[0].role])
        checked: dict[tuple[int, int], tuple] = {}

        def fit(n: int, position: int):
            key = (n, position)
            found = checked.get(key)
            if found is None:
                found = checked[key] = self._person(needs[n], position, t, info, blockers)
            return found

        chosen: list[tuple[int, list[AllocTuple]]] = []
        taken: set[int] = set()
        cursor = [0] * len(needs)
        n = 0
        while 0 <= n < len(needs):
            order = orders[n]
            picked = None
            while cursor[n] < len(order):
                position = order[cursor[n]]
                cursor[n] += 1
                if position in taken:
                    continue
                held, _hint, _on_shift = fit(n, position)
                if held is not None:
                    picked = (position, held)
                    break
            if picked is not None:
                chosen.append(picked)
                taken.add(picked[0])
                n += 1
                if n < len(needs):
                    cursor[n] = 0
                continue
            n -= 1  # no one left for need n: give the previous need its next person
            if n >= 0:
                taken.discard(chosen.pop()[0])
        if n == len(needs):
            return chosen
        return self._staff_miss(spec, t, info, orders, fit)

    def _staff_miss(self, spec: KindSpec, t: int, info: LocalDay, orders, fit) -> Miss:
        """Why no matching exists, with a lower bound on a start where one could: a need
        nobody can fill waits for its earliest person; if every need has someone but no
        assignment keeps them apart, it waits for the first person who is unavailable now."""
        why: list[str] = []
        worst = t + 1
        earliest_other = info.end
        for n, need in enumerate(spec.needs):
            best = info.end
            on_shift_seen = False
            fillable = False
            for position in orders[n]:
                held, hint, on_shift = fit(n, position)
                on_shift_seen = on_shift_seen or on_shift
                if held is not None:
                    fillable = True
                    continue
                best = min(best, hint)
            earliest_other = min(earliest_other, best)
            if not fillable:
                code = codes.STAFF_BUSY if on_shift_seen else codes.STAFF_SHIFT
                why.append(f"{code}:{need.role}")
                worst = max(worst, best)
        if not why:  # each need alone is fillable, together they are not
            why.append(f"{codes.STAFF_BUSY}:{spec.needs[-1].role}")
            worst = max(worst, earliest_other)
        return Miss(worst, why)

    def _person(self, need: NeedSpec, position: int, t: int, info: LocalDay,
                blockers: set[int] | None) -> tuple[list[AllocTuple] | None, int, bool]:
        """(allocations, t, True) if the person can hold the need at t, else (None, a lower
        bound on a start where they could, whether they are on shift for it)."""
        occ = self.occupancy
        duty = self.on_duty(position, info)
        person_hint = t
        for a, b in need.coverage:
            begin = _coverage_hint(duty, t + a, t + b, info.end) - a
            if begin > person_hint:
                person_hint = begin
        if person_hint != t:
            return None, person_hint, False
        keys = self._staff_keys[position]
        for a, b in need.exclusive:
            for key in keys:
                free_at = occ.next_free(key, t + a, b - a, blockers) - a
                if free_at > person_hint:
                    person_hint = free_at
        if person_hint != t:
            return None, person_hint, True
        held = self._share_units(need, keys, t, blockers)
        if isinstance(held, int):
            return None, max(held, t + 1), True
        return _merge_units("staff", self.staff[position].id, held), t, True

    def _share_units(self, need: NeedSpec, keys, t: int, blockers):
        """Per shared segment one unit, keeping the same unit through a run when possible.
        Returns the (unit, start, end) pieces, or a lower bound on a workable start."""
        occ = self.occupancy
        pieces: list[tuple[int, int, int]] = [(u, t + a, t + b) for a, b in need.exclusive
                                              for u in range(len(keys))]
        last_unit = 0
        for run in need.shared_runs:
            run_start, run_end = run[0][0], run[-1][1]
            units = [last_unit] + [u for u in range(len(keys)) if u != last_unit]
            whole = None
            for u in units:
                if occ.next_free(keys[u], t + run_start, run_end - run_start, blockers) == \
                        t + run_start:
                    whole = u
                    break
            if whole is not None:
                pieces.append((whole, t + run_start, t + run_end))
                last_unit = whole
                continue
            for a, b in run:
                chosen = None
                lower = None
                for u in [last_unit] + [u for u in range(len(keys)) if u != last_unit]:
                    free_at = occ.next_free(keys[u], t + a, b - a, blockers)
                    if free_at == t + a:
                        chosen = u
                        break
                    if lower is None or free_at - a < lower:
                        lower = free_at - a
                if chosen is None:
                    return lower
                pieces.append((chosen, t + a, t + b))
                last_unit = chosen
        return pieces


def _add_miss(miss: Miss | None, hint: int, code: str) -> Miss:
    if miss is None:
        return Miss(hint, [code])
    miss.codes.append(code)
    if hint > miss.hint:
        miss.hint = hint
    return miss


def _merge_units(rtype: str, rid: ResourceId, pieces) -> list[AllocTuple]:
    out: list[AllocTuple] = []
    for unit, s, e in sorted(pieces):
        if out and out[-1][2] == unit and out[-1][4] == s:
            out[-1] = (rtype, rid, unit, out[-1][3], e)
        else:
            out.append((rtype, rid, unit, s, e))
    return out


def _subtract(windows: list[tuple[int, int]], off: list[tuple[int, int]]):
    """Windows minus sorted time-off intervals."""
    out: list[tuple[int, int]] = []
    ends = [e for _, e in off]
    for ws, we in windows:
        cursor = ws
        j = bisect_right(ends, ws)
        while j < len(off) and off[j][0] < we:
            os_, oe = off[j]
            if os_ > cursor:
                out.append((cursor, os_))
            cursor = max(cursor, oe)
            j += 1
        if cursor < we:
            out.append((cursor, we))
    return out


# The interval helpers, shared with the day windows in ``context`` (clinic closed periods).
merge_intervals = _merge
subtract_intervals = _subtract
