"""An exact optimum for ONE enrollment, to measure the engine's plans against (CP-SAT).

Given the same practice and bookings the engine sees, the model chooses a start for every
session of the plan (on a 5-minute grid, which holds every moment a resource becomes free when
hours, shifts, durations, turnovers and bookings are multiples of 5 minutes) and minimises the
local date of the plan's last session. It shares no code with the engine: which starts fit is
decided here from the raw bookings (a room unit free through the session and its turnover; a
different person per staff need, on shift throughout, every unit free for an ``exclusive``
segment and one unit free for each ``shared`` one; a prescriber on shift through every dose
segment when the kind or its route asks for one; the clinic open and the patient available),
and the protocol's rules become constraints on the chosen starts and their local dates:

- ``gap_days`` between consecutive sessions of a phase (at least a day apart without it),
  ``within_days``, ``max_per_week`` (the (i+N)-th session at least 7 days after the i-th),
  ``weekdays``, ``after``, ``follow_up`` hours, ``min_hours_between_doses`` between dose
  segments, the first session within ``start_within_days`` of the start date (the engine's
  search window), and the patient in one place at a time.

Limits, all checked by ``exact_plan``: ``count`` phases only; clinic hours inside one day; a
time zone whose UTC offset does not change over the horizon (local dates are then
``(minute + offset) // 1440``). Two sessions of the same plan that fall on one day are kept a
turnover apart (the one place where the model can be stricter than the engine: a room's
cleaning only matters if both use that room).
"""

from __future__ import annotations

import itertools
import time
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

GRID_MINUTES = 5
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Calendar:
    """Busy intervals (epoch minutes) per resource unit, from engine ``Allocation`` values."""

    def __init__(self, allocations=()) -> None:
        self._raw: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
        self._sorted: dict[tuple, tuple[list[int], list[int]]] = {}
        self.add(allocations)

    def add(self, allocations) -> None:
        for a in allocations:
            key = (a.resource_type, a.resource_id, a.unit)
            self._raw[key].append((_minutes(a.start), _minutes(a.end)))
            self._sorted.pop(key, None)

    def free(self, key, start: int, end: int) -> bool:
        lists = self._sorted.get(key)
        if lists is None:
            intervals = sorted(self._raw.get(key, ()))
            lists = self._sorted[key] = ([s for s, _ in intervals], [e for _, e in intervals])
        starts, ends = lists
        i = bisect_right(ends, start)  # first interval ending after ``start``
        return i == len(starts) or starts[i] >= end


def _minutes(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


@dataclass(frozen=True)
class ExactResult:
    finish: date | None
    """Local date of the plan's last session in the optimum; None if no plan fits."""
    status: str
    seconds: float
    starts: tuple[datetime, ...] = ()


class _Fit:
    """Which starts of a session kind fit the bookings, per the module's rules."""

    def __init__(self, practice, enrollment, calendar: Calendar, routes) -> None:
        self.practice = practice
        self.clinic = practice.clinic
        self.tz = ZoneInfo(self.clinic.timezone)
        self.calendar = calendar
        self.routes = routes
        self.availability = enrollment.availability
        self.patient = enrollment.patient_id
        self.here = [p for p in practice.staff
                     if any(s.clinic_id == self.clinic.id for s in p.shifts)]

    def local(self, minute: int) -> datetime:
        return datetime.fromtimestamp(minute * 60, self.tz)

    def _on_shift(self, person, day_start: int, weekday: str, start: int, end: int) -> bool:
        return any(s.clinic_id == self.clinic.id and s.weekday == weekday
                   and day_start + s.start <= start and end <= day_start + s.end
                   for s in person.shifts)

    def fits(self, kind, t: int) -> bool:
        local = self.local(t)
        weekday = WEEKDAYS[local.weekday()]
        day_start = t - (local.hour * 60 + local.minute)
        duration = kind.duration_minutes
        minute = t - day_start
        if local.date() in self.clinic.closures:
            return False
        if not any(a <= minute and minute + duration <= b
                   for a, b in self.clinic.hours.get(weekday, ())):
            return False
        av = self.availability
        if av.weekdays is not None and weekday not in av.weekdays:
            return False
        if av.earliest is not None and minute < av.earliest:
            return False
        if av.latest is not None and minute + duration > av.latest:
            return False
        if not self.calendar.free(("patient", self.patient, 0), t, t + duration):
            return False
        if kind.needs_room and not self._room(kind, t, duration):
            return False
        route = self.routes.get(kind.route)
        if kind.prescriber_on_site or (route is not None and route.requires_prescriber_on_site):
            for seg, a, b in kind.segment_offsets():
                if seg.dose and not any(
                        "prescriber" in p.roles
                        and self._on_shift(p, day_start, weekday, t + a, t + b)
                        for p in self.here):
                    return False
        return self._staff(kind, t, day_start, weekday)

    def _room(self, kind, t: int, duration: int) -> bool:
        for room in self.practice.rooms:
            if not kind.room_features <= room.features:
                continue
            end = t + duration + room.turnover_minutes
            if any(self.calendar.free(("room", room.id, u), t, end)
                   for u in range(room.capacity)):
                return True
        return False

    def _holds(self, person, need, kind, t: int, day_start: int, weekday: str) -> bool:
        for seg, a, b in kind.segment_offsets():
            load = need.load_for(seg.name)
            if load is None:
                continue
            if not self._on_shift(person, day_start, weekday, t + a, t + b):
                return False
            units = [("staff", person.id, u) for u in range(person.max_concurrent_patients)]
            if load == "exclusive":
                if not all(self.calendar.free(k, t + a, t + b) for k in units):
                    return False
            elif not any(self.calendar.free(k, t + a, t + b) for k in units):
                return False
        return True

    def _staff(self, kind, t: int, day_start: int, weekday: str) -> bool:
        options = []
        for need in kind.staff:
            able = [p.id for p in self.here if need.role in p.roles
                    and self._holds(p, need, kind, t, day_start, weekday)]
            if not able:
                return False
            options.append(able)
        return any(len(set(choice)) == len(choice) for choice in itertools.product(*options))


def _steps(protocol):
    """The plan's sessions in protocol order: (phase, number, is_follow_up, kind code)."""
    out = []
    for phase in protocol.placement_order():
        if phase.count is None:
            raise ValueError(f"exact model: phase {phase.name} is open-ended")
        for n in range(1, phase.count + 1):
            out.append((phase, n, False, phase.session_kind))
            if phase.follow_up is not None:
                out.append((phase, n, True, phase.follow_up.session_kind))
    return out


def exact_plan(practice, enrollment, bookings, *, routes, horizon_days: int = 80,
               start_within_days: int = 14, time_limit: float = 120.0,
               workers: int = 2) -> ExactResult:
    """The optimum (earliest finishing local date) of one enrollment against ``bookings``."""
    from ortools.sat.python import cp_model

    began = time.perf_counter()
    clinic = practice.clinic
    tz = ZoneInfo(clinic.timezone)
    first_local = datetime.combine(enrollment.start_on, datetime.min.time(), tz)
    offset = int(first_local.utcoffset().total_seconds()) // 60
    last_local = first_local + timedelta(days=horizon_days)
    if int(last_local.utcoffset().total_seconds()) // 60 != offset:
        raise ValueError("exact model: the zone's UTC offset changes over the horizon")
    if any(b > 1440 for windows in clinic.hours.values() for _, b in windows):
        raise ValueError("exact model: opening hours must lie inside one day")
    base = _minutes(first_local)  # local midnight of the start date, epoch minutes
    calendar = bookings if isinstance(bookings, Calendar) else Calendar(bookings)
    fit = _Fit(practice, enrollment, calendar, routes)
    kinds = practice.kinds
    steps = _steps(enrollment.protocol)
    turnover = max((r.turnover_minutes for r in practice.rooms), default=0)

    candidates: dict[str, list[int]] = {}
    for code in {code for *_, code in steps}:
        kind = kinds[code]
        candidates[code] = [t for t in range(base, base + horizon_days * 1440, GRID_MINUTES)
                            if fit.fits(kind, t)]

    model = cp_model.CpModel()
    starts, days, ends = [], [], []
    for i, (phase, _n, follow, code) in enumerate(steps):
        values = candidates[code]
        if not follow and phase.weekdays is not None:
            values = [t for t in values if WEEKDAYS[fit.local(t).weekday()] in phase.weekdays]
        if not values:
            return ExactResult(None, "no start fits", time.perf_counter() - began)
        start = model.new_int_var_from_domain(
            cp_model.Domain.from_values([t - base for t in values]), f"start{i}")
        day = model.new_int_var(0, horizon_days, f"day{i}")
        model.add_division_equality(day, start, 1440)
        starts.append(start)
        days.append(day)
        ends.append(kinds[code].duration_minutes)

    mains: dict[str, list[int]] = defaultdict(list)
    for i, (phase, _n, follow, _code) in enumerate(steps):
        if not follow:
            mains[phase.name].append(i)
    model.add(days[0] <= start_within_days)
    for i, (phase, _n, follow, _code) in enumerate(steps):
        if follow:
            parent = i - 1
            rule = phase.follow_up
            gap = starts[i] - starts[parent] - ends[parent]
            model.add(gap >= round(rule.min_hours * 60))
            model.add(gap <= round(rule.max_hours * 60))
    for phase in enrollment.protocol.phases:
        own = mains[phase.name]
        for a, b in itertools.pairwise(own):
            if phase.gap_days is not None:
                model.add(days[b] - days[a] >= phase.gap_days.min)
                model.add(days[b] - days[a] <= phase.gap_days.max)
            else:
                model.add(days[b] - days[a] >= 1)
        if phase.within_days is not None and own:
            model.add(days[own[-1]] - days[own[0]] <= phase.within_days)
        if phase.max_per_week is not None:
            n = phase.max_per_week
            for k in range(len(own) - n):
                model.add(days[own[k + n]] - days[own[k]] >= 7)
        if phase.after is not None and own:
            ref = mains[phase.after.phase]
            model.add(days[own[0]] - days[ref[-1]] >= phase.after.min_days)
            if phase.after.max_days is not None:
                model.add(days[own[0]] - days[ref[-1]] <= phase.after.max_days)
    spacing = enrollment.protocol.min_hours_between_doses
    doses = []
    for i, (_phase, _n, _follow, code) in enumerate(steps):
        kind = kinds[code]
        route = routes.get(kind.route)
        if kind.has_dose and (route is None or route.is_dose):
            doses += [(i, off) for off in kind.dose_offsets()]
    if spacing:
        for (i, a), (j, b) in itertools.combinations(doses, 2):
            earlier, later = (starts[i] + a, starts[j] + b)
            model.add(later - earlier >= round(spacing * 60))
    intervals = [model.new_fixed_size_interval_var(starts[i], ends[i] + turnover, f"iv{i}")
                 for i in range(len(steps))]
    model.add_no_overlap(intervals)
    finish = model.new_int_var(0, horizon_days, "finish")
    model.add_max_equality(finish, days)
    model.minimize(finish)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    status = solver.solve(model)
    seconds = time.perf_counter() - began
    if status == cp_model.OPTIMAL:
        chosen = tuple(datetime.fromtimestamp((base + solver.value(s)) * 60, UTC)
                       for s in starts)
        return ExactResult(enrollment.start_on + timedelta(days=solver.value(finish)),
                           "optimal", seconds, chosen)
    if status == cp_model.INFEASIBLE:
        return ExactResult(None, "infeasible", seconds)
    return ExactResult(None, solver.status_name(status).lower(), seconds)


def local_finish(plan, timezone: str) -> date:
    tz = ZoneInfo(timezone)
    return max(s.start.astimezone(tz).date() for s in plan.sessions)
