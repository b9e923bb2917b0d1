"""An independent checker of placed plans, written apart from the engine on purpose.

It shares no code with ``scheduler.engine`` beyond the input dataclasses: overlaps are found by
brute force (or a plain sort-and-sweep for big calendars), local times are recomputed with
``zoneinfo`` directly, and every allocation rule of the engine's contract is re-derived from the
session kinds. Each function returns a list of problems in words; empty means valid.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.rules.model import WEEKDAYS

WEEKDAY_CODES = WEEKDAYS


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _units(allocations):
    by_unit = defaultdict(list)
    for a in allocations:
        by_unit[(a.resource_type, a.resource_id, a.unit)].append((_utc(a.start), _utc(a.end)))
    return by_unit


def double_bookings_brute(allocations) -> list[str]:
    """Every pair of allocations on one unit that overlap (quadratic; for small calendars)."""
    problems = []
    for key, intervals in _units(allocations).items():
        for i in range(len(intervals)):
            for j in range(i + 1, len(intervals)):
                (s1, e1), (s2, e2) = intervals[i], intervals[j]
                if s1 < e2 and s2 < e1:
                    problems.append(f"{key} double-booked: {s1}-{e1} and {s2}-{e2}")
    return problems


def double_bookings_sweep(allocations) -> list[str]:
    """Same question as the brute-force check, by sorting each unit's intervals."""
    problems = []
    for key, intervals in _units(allocations).items():
        intervals.sort()
        latest_end = None
        for s, e in intervals:
            if latest_end is not None and s < latest_end:
                problems.append(f"{key} double-booked at {s}")
            latest_end = e if latest_end is None or e > latest_end else latest_end
    return problems


def capacity_problems(allocations, rooms, staff) -> list[str]:
    """Units must exist, and at no instant may a resource hold more than its capacity."""
    capacity = {("room", r.id): r.capacity for r in rooms}
    capacity.update({("staff", p.id): p.max_concurrent_patients for p in staff})
    problems = []
    events = defaultdict(list)
    for a in allocations:
        cap = 1 if a.resource_type == "patient" else capacity.get((a.resource_type, a.resource_id))
        if cap is None:
            problems.append(f"unknown resource {a.resource_type} {a.resource_id}")
            continue
        if not 0 <= a.unit < cap:
            problems.append(f"{a.resource_type} {a.resource_id} has no unit {a.unit}")
        events[(a.resource_type, a.resource_id, cap)].append((_utc(a.start), 1))
        events[(a.resource_type, a.resource_id, cap)].append((_utc(a.end), -1))
    for (rtype, rid, cap), points in events.items():
        load = 0
        for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
            load += delta
            if load > cap:
                problems.append(f"{rtype} {rid} holds {load} > capacity {cap}")
                break
    return problems


def _local_inside(tz, start, end, windows_for_day) -> bool:
    """[start, end) lies inside one local window: of the local day of ``start`` (a window may
    end after 1440, running into the next day), of the previous day running into it, or of
    the next day continuing it past midnight."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    day = local_start.date()
    a = local_start.hour * 60 + local_start.minute
    wall = (local_end.replace(tzinfo=None) - local_start.replace(tzinfo=None))
    b = a + round(wall.total_seconds() / 60)
    windows = [(lo - 1440, hi - 1440) for lo, hi in windows_for_day(day - timedelta(days=1))]
    windows += list(windows_for_day(day))
    windows += [(lo + 1440, hi + 1440) for lo, hi in windows_for_day(day + timedelta(days=1))]
    merged: list[list[int]] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    # on the repeated autumn hour wall minutes can run backwards; compare real durations too
    real = (end - start).total_seconds() / 60
    return any(lo <= a and b <= hi and a + real <= hi + 60 for lo, hi in merged)


def session_problems(practice, enrollment, plan, *, availability=True) -> list[str]:
    """Re-derive every per-session allocation rule from the kinds and check the plan."""
    tz = ZoneInfo(practice.clinic.timezone)
    clinic = practice.clinic
    rooms = {r.id: r for r in practice.rooms}
    people = {p.id: p for p in practice.staff}
    problems = []

    def hours(day):
        if day in clinic.closures:
            return []
        windows = list(clinic.hours.get(WEEKDAY_CODES[day.weekday()], ()))
        if day + timedelta(days=1) in clinic.closures:  # a closed day is closed from midnight
            windows = [(lo, min(hi, 1440)) for lo, hi in windows]
        return windows

    def shifts(person):
        def windows(day):
            code = WEEKDAY_CODES[day.weekday()]
            return [(s.start, s.end) for s in person.shifts
                    if s.clinic_id == clinic.id and s.weekday == code]
        return windows

    def on_duty(person, start, end) -> bool:
        if not _local_inside(tz, start, end, shifts(person)):
            return False
        return not any(_utc(t.start) < end and start < _utc(t.end) for t in person.time_off)

    for session in plan.sessions:
        kind = practice.kinds[session.kind]
        start, end = _utc(session.start), _utc(session.end)
        label = session.key
        if end - start != timedelta(minutes=kind.duration_minutes):
            problems.append(f"{label}: wrong duration")
        if not _local_inside(tz, start, end, hours):
            problems.append(f"{label}: outside opening hours or on a closure")
        if availability:
            a = enrollment.availability
            local = start.astimezone(tz)
            if a.weekdays is not None and WEEKDAY_CODES[local.weekday()] not in a.weekdays:
                problems.append(f"{label}: on a weekday the patient is not available")
            lo, hi = a.earliest or 0, 1440 if a.latest is None else a.latest
            if not _local_inside(tz, start, end, lambda day, lo=lo, hi=hi: [(lo, hi)]):
                problems.append(f"{label}: outside the patient's time window")
        allocations = session.allocations
        patient = [a for a in allocations if a.resource_type == "patient"]
        if [(a.resource_id, a.unit, _utc(a.start), _utc(a.end)) for a in patient] != \
                [(enrollment.patient_id, 0, start, end)]:
            problems.append(f"{label}: patient allocation wrong: {patient}")
        room_allocs = [a for a in allocations if a.resource_type == "room"]
        if kind.needs_room:
            if len(room_allocs) != 1:
                problems.append(f"{label}: expected one room allocation, got {room_allocs}")
            else:
                a = room_allocs[0]
                room = rooms[a.resource_id]
                if not kind.room_features <= room.features:
                    problems.append(f"{label}: room {room.id} lacks features")
                turnover = timedelta(minutes=room.turnover_minutes)
                if (_utc(a.start), _utc(a.end)) != (start, end + turnover):
                    problems.append(f"{label}: room held {a.start}-{a.end}, not session+turnover")
        elif room_allocs:
            problems.append(f"{label}: telehealth session holds a room")
        staff_allocs = [a for a in allocations if a.resource_type == "staff"]
        if len(session.staff_ids) != len(kind.staff) or \
                len(set(session.staff_ids)) != len(session.staff_ids):
            problems.append(f"{label}: staff {session.staff_ids} do not match needs")
            continue
        expected_units = 0
        for need, person_id in zip(kind.staff, session.staff_ids, strict=True):
            person = people[person_id]
            if need.role not in person.roles:
                problems.append(f"{label}: {person_id} lacks role {need.role}")
            mine = [a for a in staff_allocs if a.resource_id == person_id]
            for seg, a_min, b_min in kind.segment_offsets():
                load = need.load_for(seg.name)
                if load is None:
                    continue
                seg_start = start + timedelta(minutes=a_min)
                seg_end = start + timedelta(minutes=b_min)
                if not on_duty(person, seg_start, seg_end):
                    problems.append(f"{label}: {person_id} not on duty for {seg.name}")
                covering = {a.unit for a in mine
                            if _utc(a.start) <= seg_start and seg_end <= _utc(a.end)}
                if load == "exclusive":
                    if covering != set(range(person.max_concurrent_patients)):
                        problems.append(f"{label}: {person_id} exclusive {seg.name} "
                                        f"holds units {covering}")
                elif not covering:
                    problems.append(f"{label}: {person_id} shared {seg.name} holds no unit")
            expected_units += 1
            held = [a for a in mine]
            for a in held:
                if _utc(a.start) < start or _utc(a.end) > end:
                    problems.append(f"{label}: staff allocation outside the session")
        if {a.resource_id for a in staff_allocs} - set(session.staff_ids):
            problems.append(f"{label}: allocations for staff not assigned")
        from scheduler.rules.routes import ROUTES

        route = practice.routes.get(kind.route) or ROUTES.get(kind.route)
        needs_prescriber = kind.prescriber_on_site or bool(
            route and route.requires_prescriber_on_site)
        if needs_prescriber:
            for seg, a_min, b_min in kind.segment_offsets():
                if not seg.dose:
                    continue
                seg_start = start + timedelta(minutes=a_min)
                seg_end = start + timedelta(minutes=b_min)
                if not any("prescriber" in p.roles and on_duty(p, seg_start, seg_end)
                           for p in practice.staff):
                    problems.append(f"{label}: no prescriber on site for {seg.name}")
        if route and route.required_certification and \
                route.required_certification not in clinic.certifications:
            problems.append(f"{label}: clinic lacks {route.required_certification}")
    return problems


def patient_busy_problems(enrollment, plan) -> list[str]:
    problems = []
    for session in plan.sessions:
        for busy in enrollment.patient_busy:
            if _utc(busy.start) < _utc(session.end) and _utc(session.start) < _utc(busy.end):
                problems.append(f"{session.key} overlaps the patient's appointment elsewhere")
    return problems
