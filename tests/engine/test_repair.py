"""The engine's batch repair and closed periods (pure: no database)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from scheduler.engine import BusyInterval, RepairJob, TimeOff, place_plan, repair_plans
from tests.engine.engine_factory import iv_depression, local, make_enrollment, make_practice, verify

NY = "America/New_York"
MONDAY = date(2026, 6, 1)


def test_clinic_and_room_closed_periods_keep_sessions_out():
    practice = make_practice(infusion_rooms=1)
    closed = BusyInterval(local(NY, 2026, 6, 1, 0), local(NY, 2026, 6, 3, 12))
    clinic = replace(practice.clinic, closed_periods=(closed,))
    shut = make_practice(infusion_rooms=1)
    room = replace(shut.rooms[0], closed_periods=(closed,))
    for p in (replace(practice, clinic=clinic), replace(shut, rooms=(room, *shut.rooms[1:]))):
        enrollment = make_enrollment(iv_depression(), MONDAY)
        plan = place_plan(p, enrollment)
        for s in plan.sessions:
            if p.clinic.closed_periods or s.kind == "iv_infusion":
                assert not (s.start < closed.end and closed.start < s.end), s
        verify(p, enrollment, plan)


def _two_booked_plans():
    practice = make_practice(nurses=2, infusion_rooms=2)
    plans = []
    bookings = []
    for patient in ("pat1", "pat2"):
        enrollment = replace(make_enrollment(iv_depression(), MONDAY), patient_id=patient)
        plan = place_plan(replace(practice, bookings=tuple(bookings)), enrollment)
        bookings += plan.allocations()
        plans.append((enrollment, plan))
    return practice, plans


def test_a_sick_nurse_batch_repair_is_conflict_free_and_order_independent():
    practice, plans = _two_booked_plans()
    nurse = next(a.resource_id for a in plans[0][1].sessions[1].allocations
                 if a.resource_type == "staff")
    day = plans[0][1].sessions[1].start.astimezone(ZoneInfo(NY)).date()
    start = local(NY, day.year, day.month, day.day, 0)
    off = TimeOff(start, start + timedelta(days=1))
    staff = tuple(replace(m, time_off=(off,)) if m.id == nurse else m for m in practice.staff)
    sick = replace(practice, staff=staff)
    jobs = []
    for i, (enrollment, plan) in enumerate(plans):
        hit = frozenset(s.key for s in plan.sessions if any(
            a.resource_type == "staff" and a.resource_id == nurse and a.start < off.end
            and off.start < a.end for a in s.allocations))
        if hit:
            jobs.append(RepairJob(i, enrollment, plan, hit))
    assert jobs
    results = [repair_plans(sick, order) for order in itertools.permutations(jobs)]
    first = {r.job.plan_id: r.plan for r in results[0]}
    for other in results[1:]:
        assert {r.job.plan_id: r.plan for r in other} == first
    everything = []
    for result in results[0]:
        assert not result.unplaceable
        for s in result.plan.sessions:
            for a in s.allocations:
                assert not (a.resource_id == nurse and a.start < off.end and off.start < a.end)
        changed = {s.key for s in result.changed}
        assert result.job.affected <= changed
        before = {s.key: s for s in result.job.plan.sessions}
        first_hit = min(before[k].start for k in result.job.affected)
        for s in result.plan.sessions:
            if s.start < first_hit:
                assert s == before[s.key]  # earlier sessions never move
        everything += result.plan.allocations()
        verify(replace(sick, bookings=()), result.job.enrollment, result.plan)
    from tests.engine.capacity_checker import double_bookings_brute

    assert not double_bookings_brute(everything)
