"""The exact (CP-SAT) second opinion on a disruption's batch repair."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, timedelta

from scheduler.engine import (
    Allocation,
    Availability,
    BusyInterval,
    ExactSettings,
    PlacedSession,
    Plan,
    RepairJob,
    exact_repair,
    needs_second_opinion,
    place_plan,
    repair_cost,
    repair_plans,
)
from scheduler.rules.model import After, Phase, Protocol
from tests.engine.capacity_checker import double_bookings_brute
from tests.engine.engine_factory import hm, local, make_enrollment, make_practice, verify

NY = "America/New_York"
MONDAY = date(2026, 6, 1)
SAME_DAY = Protocol("p", "p", (Phase("consult", "consult", count=1),
                               Phase("dose", "iv_infusion", count=1,
                                     after=After("consult", 0, 0))))


def _at(h, m=0):
    return local(NY, 2026, 6, 1, h, m)


def _session(key, phase, kind, start, minutes, allocations):
    end = start + timedelta(minutes=minutes)
    held = []
    for rtype, rid, extra in allocations:
        held.append(Allocation(rtype, rid, 0, start, end + timedelta(minutes=extra)))
    return PlacedSession(key, phase, kind, start, end, allocations=tuple(held),
                         room_id=next(r for t, r, _ in allocations if t == "room"),
                         staff_ids=tuple(r for t, r, _ in allocations if t == "staff"))


def _plan(patient, consult_at, dose_at, nurse):
    return Plan((
        _session("consult#1", "consult", "consult", consult_at, 45,
                 [("room", "consult1", 0), ("staff", "doc0", 0), ("patient", patient, 0)]),
        _session("dose#1", "dose", "iv_infusion", dose_at, 85,
                 [("room", "inf0", 15), ("staff", nurse, 0), ("patient", patient, 0)])))


def _greedy_loses_one():
    """Room inf0 breaks on Monday. Both infusions must stay that day (after consult 0-0 days)
    and go to inf1, free only 12:00-13:40 and 15:00-16:40. A (at 10:00, repaired first) takes
    12:00, the nearest; B can only come until 14:00 and is left with nothing. Jointly: A at
    15:00, B at 12:00 (the same time in another room: reassigned)."""
    practice = make_practice(infusion_rooms=2, nurses=2)
    busy = [Allocation("room", "inf1", 0, _at(8), _at(12)),
            Allocation("room", "inf1", 0, _at(13, 40), _at(15)),
            Allocation("room", "inf1", 0, _at(16, 40), _at(18))]
    broken = BusyInterval(_at(0), _at(23))
    rooms = tuple(replace(r, closed_periods=(broken,)) if r.id == "inf0" else r
                  for r in practice.rooms)
    practice = replace(practice, rooms=rooms, bookings=tuple(busy))
    a = replace(make_enrollment(SAME_DAY, MONDAY), patient_id="A")
    b = replace(make_enrollment(SAME_DAY, MONDAY,
                                availability=Availability(earliest=hm("08:00"),
                                                          latest=hm("14:00"))),
                patient_id="B")
    jobs = [RepairJob(1, a, _plan("A", _at(8), _at(10), "nurse0"), frozenset({"dose#1"})),
            RepairJob(2, b, _plan("B", _at(9), _at(12), "nurse1"), frozenset({"dose#1"}))]
    return practice, jobs


def test_the_exact_repair_keeps_the_session_the_greedy_order_loses():
    practice, jobs = _greedy_loses_one()
    greedy = repair_plans(practice, jobs)
    assert [bool(r.unplaceable) for r in greedy] == [False, True]
    assert needs_second_opinion(greedy)
    answer = exact_repair(practice, jobs, greedy, ExactSettings(time_limit_seconds=5))
    assert answer.solver == "exact" and answer.status == "optimal"
    assert answer.greedy_cost.unplaceable == 1 and answer.exact_cost.unplaceable == 0
    assert answer.exact_cost == repair_cost(practice, answer.results)
    by_plan = {r.job.plan_id: r for r in answer.results}
    assert by_plan[1].plan.session("dose#1").start == _at(15)
    b_dose = by_plan[2].plan.session("dose#1")
    assert b_dose.start == _at(12) and b_dose.room_id == "inf1"  # reassigned
    everything = list(practice.bookings)
    for result in answer.results:
        assert not result.unplaceable
        # the evaluator and the independent checker, plan by plan and all together
        verify(replace(practice, bookings=()), result.job.enrollment, result.plan)
        everything += result.plan.allocations()
        before = result.job.plan.session("consult#1")
        assert result.plan.session("consult#1") == before  # earlier sessions never move
    assert not double_bookings_brute(everything)


def test_no_better_answer_means_the_greedy_one_stands():
    practice, jobs = _greedy_loses_one()
    only_b = [jobs[1]]
    greedy = repair_plans(practice, only_b)
    assert not greedy[0].unplaceable  # alone, B gets 12:00 in inf1: the same time
    answer = exact_repair(practice, only_b, greedy, ExactSettings(time_limit_seconds=5))
    assert answer.solver == "greedy" and answer.results == greedy
    assert answer.exact_cost is None or not answer.exact_cost < answer.greedy_cost


def test_the_exact_repair_keeps_to_its_time_bound():
    """A week of one room out in a busy clinic: many plans, many candidates; the bound holds
    (options are built until 70 % of it, the solver gets the rest)."""
    practice = make_practice(infusion_rooms=3, nurses=3)
    from tests.engine.engine_factory import iv_depression

    plans, bookings = [], []
    for i in range(6):
        enrollment = replace(make_enrollment(iv_depression(), MONDAY + timedelta(days=i % 3)),
                             patient_id=f"p{i}")
        plan = place_plan(replace(practice, bookings=tuple(bookings)), enrollment)
        bookings += plan.allocations()
        plans.append((enrollment, plan))
    broken = BusyInterval(local(NY, 2026, 6, 1, 0), local(NY, 2026, 6, 8, 0))
    rooms = tuple(replace(r, closed_periods=(broken,)) if r.id == "inf0" else r
                  for r in practice.rooms)
    shut = replace(practice, rooms=rooms)
    jobs = []
    for i, (enrollment, plan) in enumerate(plans):
        hit = frozenset(s.key for s in plan.sessions if s.room_id == "inf0"
                        and s.start < broken.end and broken.start < s.end)
        if hit:
            jobs.append(RepairJob(i, enrollment, plan, hit))
    assert len(jobs) >= 2
    greedy = repair_plans(shut, jobs)
    exact_repair(shut, jobs, greedy, ExactSettings(time_limit_seconds=0.05))  # warm import
    for limit in (0.05, 0.2):
        began, cpu = time.monotonic(), time.process_time()
        answer = exact_repair(shut, jobs, greedy, ExactSettings(
            time_limit_seconds=limit, max_options=100_000, prune=False))
        took, worked = time.monotonic() - began, time.process_time() - cpu
        # One option's engine call and the model's set-up may run past the bound a little. On
        # a machine other processes share (CI runs two suites at once), the wall clock also
        # counts their time: the process's own CPU time must keep to the bound then.
        # Half a second covers the one engine call in flight when the bound falls (seen up to
        # 0.31 s past it with both CI suites running side by side).
        assert took <= limit + 0.5 or worked <= limit + 0.5, (limit, took, worked,
                                                               answer.options)
        assert answer.seconds <= took
        chosen = {r.job.plan_id: r for r in answer.results}
        assert not double_bookings_brute(
            [*shut.bookings, *(a for r in chosen.values() for a in r.plan.allocations())])
    assert answer.options > len(jobs)


def test_turned_off_it_does_not_run():
    practice, jobs = _greedy_loses_one()
    greedy = repair_plans(practice, jobs)
    answer = exact_repair(practice, jobs, greedy, ExactSettings(time_limit_seconds=0))
    assert answer.solver == "greedy" and answer.status == "not_run"


def _snow_day(api, practice, booked):
    from tests.disruptions.conftest import day_of

    plans = booked(2)
    target = min((a for p in plans.values() for a in p["appointments"]
                  if a["session_kind"] == "iv_infusion"), key=lambda a: a["start"])
    start, end = day_of(target)
    return {"kind": "clinic_closure", "clinic_id": practice.clinic, "start": start,
            "end": end, "reason": "snow"}


def _relabelled(break_it: bool):
    """engine.exact_repair answering with the greedy plans as if they were its own (broken:
    a later session laid over the first one, which the evaluator must catch)."""
    from scheduler.engine import exact_repair as real

    def fake(practice, jobs, greedy, settings):
        answer = real(practice, jobs, greedy, replace(settings, time_limit_seconds=0))
        results = list(greedy)
        if break_it:
            r = next(r for r in results if len(r.plan.sessions) > 2)
            first, later = r.plan.sessions[0], r.plan.sessions[2]
            bad = replace(later, start=first.start, end=first.start + (later.end - later.start))
            results[results.index(r)] = replace(r, plan=Plan(
                tuple(bad if s is later else s for s in r.plan.sessions)),
                changed=(*r.changed, bad))
        return replace(answer, results=results, solver="exact", status="optimal")
    return fake


def test_a_proposal_says_which_repair_answered(api, practice, booked, monkeypatch, calendar_ok):
    from scheduler.services import disruptions

    body = _snow_day(api, practice, booked)
    greedy = api.post("/disruptions", body)
    assert greedy["summary"]["solver"] in ("greedy", "exact")
    api.post(f"/disruptions/{greedy['id']}/discard", expect=200)
    monkeypatch.setattr(disruptions.engine, "exact_repair", _relabelled(break_it=False))
    exact = api.post("/disruptions", body)
    assert exact["summary"]["solver"] == "exact"
    assert [c["after"] for c in exact["changes"]] == [c["after"] for c in greedy["changes"]]
    api.post(f"/disruptions/{exact['id']}/apply", expect=200)
    assert calendar_ok() == []


def test_an_exact_answer_that_fails_the_proof_is_never_used(api, practice, booked, monkeypatch,
                                                            calendar_ok):
    from scheduler.services import disruptions

    body = _snow_day(api, practice, booked)
    monkeypatch.setattr(disruptions.engine, "exact_repair", _relabelled(break_it=True))
    proposal = api.post("/disruptions", body)
    assert proposal["summary"]["solver"] == "greedy"
    monkeypatch.undo()
    api.post(f"/disruptions/{proposal['id']}/discard", expect=200)
    app_config = api.client.application.config
    app_config["DISRUPTION_EXACT_MS"] = 0  # the greedy answer alone
    try:
        alone = api.post("/disruptions", body)
    finally:
        app_config["DISRUPTION_EXACT_MS"] = 300
    assert alone["summary"]["solver"] == "greedy"
    assert [c["after"] for c in alone["changes"]] == [c["after"] for c in proposal["changes"]]
    api.post(f"/disruptions/{alone['id']}/apply", expect=200)
    assert calendar_ok() == []
