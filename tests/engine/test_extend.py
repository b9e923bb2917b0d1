"""extend_plan: continuing open-ended phases over a moved rolling horizon, fixed sessions kept.

The fixed plan is what the booking service stores; its allocations are NOT among the practice's
bookings (as in ``horizon.extend_one``), so the checks below add them back: the final calendar
(bookings + fixed + new) must be conflict-free and the whole plan must satisfy the protocol up
to the new horizon.
"""

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from scheduler.engine import (
    Allocation,
    Enrollment,
    PlacedSession,
    PlacementError,
    Plan,
    Preferences,
    Room,
    SearchOptions,
    extend_plan,
    place_plan,
    reschedule,
)
from scheduler.rules import codes
from scheduler.rules.evaluator import evaluate
from scheduler.rules.model import FollowUp, GapDays, Phase, Protocol
from tests.engine.capacity_checker import (
    capacity_problems,
    double_bookings_brute,
    session_problems,
)
from tests.engine.engine_factory import (
    hm,
    instances,
    iv_depression,
    local,
    make_enrollment,
    make_practice,
    verify,
)
from tests.engine.test_properties import practices, protocols

NY = "America/New_York"
TZ = ZoneInfo(NY)
MONDAY = date(2026, 6, 1)


def open_ended(until_days: int = 365, follow_up: bool = True) -> Protocol:
    """iv-depression with open-ended maintenance, each booster with an integration follow-up."""
    base = iv_depression(boosters=1)
    maintenance = replace(base.phases[2], count=None, until_days=until_days,
                          follow_up=FollowUp("integration", 24, 72) if follow_up else None)
    return replace(base, phases=(*base.phases[:2], maintenance))


def day(moment: datetime) -> date:
    return moment.astimezone(TZ).date()


def mains(plan: Plan, phase: str) -> list[PlacedSession]:
    return [s for s in plan.sessions if s.phase == phase and s.follow_up_of is None]


def horizon(enrollment: Enrollment, days: int) -> Enrollment:
    return replace(enrollment, horizon_end=enrollment.start_on + timedelta(days=days))


def placed_then_extended(until_days=365, first=90, second=200, practice=None):
    practice = practice or make_practice(nurses=2, infusion_rooms=2)
    short = horizon(make_enrollment(open_ended(until_days), MONDAY), first)
    fixed = place_plan(practice, short)
    verify(practice, short, fixed)
    longer = horizon(short, second)
    return practice, fixed, longer, extend_plan(practice, longer, fixed)


def test_fixed_sessions_stay_byte_identical_and_numbering_continues():
    practice, fixed, longer, extended = placed_then_extended()
    n = len(fixed.sessions)
    assert len(extended.sessions) > n
    assert extended.sessions[:n] == fixed.sessions
    assert all(a is b for a, b in zip(extended.sessions, fixed.sessions))
    old = [s.key for s in mains(fixed, "maintenance")]
    new = extended.sessions[n:]
    numbers = [int(s.key.split("#")[1]) for s in new if s.follow_up_of is None]
    assert numbers == list(range(len(old) + 1, len(old) + 1 + len(numbers)))
    for s in new:  # each new booster directly followed by its own follow-up
        if s.follow_up_of is None:
            assert extended.session(s.key + "/follow_up").follow_up_of == s.key
    verify(practice, longer, extended)  # bookings + fixed + new: no conflict, no rule broken


def test_gap_counts_from_the_last_fixed_session():
    _, fixed, _, extended = placed_then_extended()
    last_fixed = day(mains(fixed, "maintenance")[-1].start)
    first_new = day(mains(extended, "maintenance")[len(mains(fixed, "maintenance"))].start)
    assert (first_new - last_fixed).days == 28  # the gap target, free in this practice
    for a, b in zip(mains(extended, "maintenance"), mains(extended, "maintenance")[1:]):
        assert 21 <= (day(b.start) - day(a.start)).days <= 42


def test_until_days_counts_from_the_phases_first_fixed_session():
    practice, fixed, longer, extended = placed_then_extended(until_days=100, first=90,
                                                             second=400)
    boosters = [day(s.start) for s in mains(extended, "maintenance")]
    first = day(mains(fixed, "maintenance")[0].start)
    assert boosters[0] == first and len(boosters) > len(mains(fixed, "maintenance"))
    assert all(d <= first + timedelta(days=100) for d in boosters)
    assert boosters[-1] + timedelta(days=28) > first + timedelta(days=100)  # nothing more due
    verify(practice, longer, extended)


def test_extending_again_to_the_same_horizon_adds_nothing():
    practice, _, longer, extended = placed_then_extended()
    assert extend_plan(practice, longer, extended) is extended
    further = extend_plan(practice, horizon(longer, 260), extended)
    assert further.sessions[:len(extended.sessions)] == extended.sessions
    assert extend_plan(practice, horizon(longer, 260), further) is further
    verify(practice, horizon(longer, 260), further)


def test_nothing_due_returns_the_fixed_plan():
    practice = make_practice()
    enrollment = horizon(make_enrollment(open_ended(), MONDAY), 90)
    fixed = place_plan(practice, enrollment)
    assert extend_plan(practice, enrollment, fixed) is fixed
    assert extend_plan(practice, horizon(enrollment, 95), fixed) is fixed or \
        len(extend_plan(practice, horizon(enrollment, 95), fixed).sessions) > len(fixed.sessions)
    count_only = make_enrollment(iv_depression(), MONDAY)
    plan = place_plan(practice, count_only)
    assert extend_plan(practice, horizon(count_only, 400), plan) is plan


def test_a_phase_not_started_yet_begins_after_the_phase_it_follows():
    practice = make_practice(nurses=2, infusion_rooms=2)
    short = horizon(make_enrollment(open_ended(), MONDAY), 20)
    fixed = place_plan(practice, short)
    assert not mains(fixed, "maintenance")  # first booster is due beyond day 20
    longer = horizon(short, 120)
    extended = extend_plan(practice, longer, fixed)
    induction_end = day(mains(fixed, "induction")[-1].start)
    first = mains(extended, "maintenance")[0]
    assert first.key == "maintenance#1"
    assert 14 <= (day(first.start) - induction_end).days <= 42
    verify(practice, longer, extended)


def _problems(practice, enrollment, plan, ignore_keys=()):
    """verify() without the rule violations that only concern sessions in ``ignore_keys``."""
    allocations = list(practice.bookings) + plan.allocations()
    problems = double_bookings_brute(allocations)
    problems += capacity_problems(allocations, practice.rooms, practice.staff)
    problems += session_problems(practice, enrollment, plan)
    problems += [v.message for v in evaluate(
        enrollment.protocol, practice.kinds, instances(plan), tz=TZ, complete=True,
        horizon_end=enrollment.horizon) if not set(v.sessions) <= set(ignore_keys)]
    return problems


def test_cancelled_boosters_are_absent_and_numbering_goes_past_them():
    practice = make_practice(nurses=2, infusion_rooms=2)
    short = horizon(make_enrollment(open_ended(), MONDAY), 100)
    placed = place_plan(practice, short)
    assert [s.key for s in mains(placed, "maintenance")][-1] == "maintenance#3"
    # booster #2 and its follow-up were cancelled: absent from the stored plan
    fixed = Plan(tuple(s for s in placed.sessions if not s.key.startswith("maintenance#2")))
    longer = horizon(short, 200)
    extended = extend_plan(practice, longer, fixed)
    new = [s.key for s in extended.sessions[len(fixed.sessions):]]
    assert new[:2] == ["maintenance#4", "maintenance#4/follow_up"]
    third = day(fixed.session("maintenance#3").start)
    assert (day(extended.session("maintenance#4").start) - third).days == 28
    # #1 -> #3 is too far apart (the cancellation did that); nothing else may be wrong
    assert not _problems(practice, longer, extended, {"maintenance#1", "maintenance#3"})

    # the LAST booster cancelled: its key may be reserved so it is not reused
    fixed = Plan(tuple(s for s in placed.sessions if not s.key.startswith("maintenance#3")))
    again = extend_plan(practice, longer, fixed)
    assert again.sessions[len(fixed.sessions)].key == "maintenance#3"
    reserved = extend_plan(practice, longer, fixed,
                           reserved_keys=["maintenance#3", "maintenance#3/follow_up"])
    assert reserved.sessions[len(fixed.sessions)].key == "maintenance#4"
    second = day(fixed.session("maintenance#2").start)
    assert 21 <= (day(reserved.session("maintenance#4").start) - second).days <= 42
    assert not _problems(practice, longer, reserved)


def _boost_protocol(**kw) -> Protocol:
    return Protocol("p", "p", (
        Phase("review", "consult", count=1),
        Phase("boost", "iv_infusion", until_days=60, gap_days=GapDays(7, 7, 7)),
    ), **kw)


def test_fixed_allocations_block_the_new_sessions():
    """The stored sessions' allocations are not among the bookings, yet the patient and the
    room they hold must still block the continuation."""
    room = Room("r", frozenset({"iv_pump", "vitals_monitor", "consult"}), 1, 15)
    practice = make_practice(rooms=[room])
    only_boost = Protocol("p", "p", (_boost_protocol().phases[1],))
    enrollment = Enrollment("pat1", only_boost, MONDAY, preferences=Preferences(time=hm("10:00")),
                            horizon_end=MONDAY + timedelta(days=10))
    boosts = place_plan(practice, enrollment)
    assert [s.start.astimezone(TZ).strftime("%a %d %H:%M") for s in boosts.sessions] == \
        ["Mon 01 10:00", "Mon 08 10:00"]
    # a stored review (consult) on the next booster's day at its preferred time, same room
    s, e = local(NY, 2026, 6, 15, 10), local(NY, 2026, 6, 15, 10, 45)
    review = PlacedSession("review#1", "review", "consult", s, e, allocations=(
        Allocation("room", "r", 0, s, e + timedelta(minutes=15)),
        Allocation("staff", "doc0", 0, s, e),
        Allocation("patient", "pat1", 0, s, e)), room_id="r", staff_ids=("doc0",))
    fixed = Plan((review, *boosts.sessions))
    longer = replace(enrollment, protocol=_boost_protocol(),
                     horizon_end=MONDAY + timedelta(days=17))
    extended = extend_plan(practice, longer, fixed)
    third = extended.session("boost#3")
    assert third.start == local(NY, 2026, 6, 15, 11)  # after the review and its room turnover
    verify(practice, longer, extended)


def test_dose_spacing_counts_the_fixed_doses():
    protocol = Protocol("p", "p", (
        Phase("boost", "iv_infusion", until_days=10, gap_days=GapDays(1, 1, 1)),
    ), min_hours_between_doses=25)
    practice = make_practice()
    enrollment = Enrollment("pat1", protocol, MONDAY, preferences=Preferences(time=hm("08:00")),
                            horizon_end=MONDAY + timedelta(days=1))
    fixed = place_plan(practice, enrollment)
    assert len(fixed.sessions) == 1
    longer = replace(enrollment, horizon_end=MONDAY + timedelta(days=2))
    extended = extend_plan(practice, longer, fixed)
    second = extended.session("boost#2")
    assert second.start.astimezone(TZ).strftime("%a %H:%M") == "Tue 09:00"
    verify(practice, longer, extended)


def test_a_due_session_that_cannot_be_placed_is_explained():
    protocol = _boost_protocol()
    only_boost = Protocol("p", "p", (protocol.phases[1],))
    practice = make_practice(closures=[MONDAY + timedelta(days=14)])
    enrollment = Enrollment("pat1", only_boost, MONDAY, horizon_end=MONDAY + timedelta(days=10))
    fixed = place_plan(practice, enrollment)
    with pytest.raises(PlacementError) as err:
        extend_plan(practice, replace(enrollment, horizon_end=MONDAY + timedelta(days=30)),
                    fixed)
    explanation = err.value.explanation
    assert explanation.session_key == "boost#3"
    assert explanation.blockers[0].code == codes.CLOSURE
    assert "Boost #3 could not be placed" in explanation.message


def test_not_before_keeps_new_sessions_out_of_the_past():
    practice, fixed, longer, _ = placed_then_extended()
    last = day(mains(fixed, "maintenance")[-1].start)
    late = extend_plan(practice, longer, fixed, not_before=last + timedelta(days=35))
    first_new = late.sessions[len(fixed.sessions)]
    assert day(first_new.start) >= last + timedelta(days=35)
    verify(practice, longer, late)


# -- reschedule within until_days and the horizon ---------------------------------------------


def _boosters(until_days: int, horizon_days: int):
    protocol = Protocol("p", "p", (
        Phase("boost", "iv_infusion", until_days=until_days, gap_days=GapDays(7, 7, 14)),
    ))
    practice = make_practice()
    enrollment = Enrollment("pat1", protocol, MONDAY,
                            horizon_end=MONDAY + timedelta(days=horizon_days))
    plan = place_plan(practice, enrollment)
    return practice, enrollment, plan


def test_reschedule_keeps_until_days():
    practice, enrollment, plan = _boosters(until_days=30, horizon_days=90)
    assert [(day(s.start) - MONDAY).days for s in plan.sessions] == [0, 7, 14, 21, 28]
    last = plan.session("boost#5")
    with pytest.raises(PlacementError) as err:  # day 31: beyond boost #1 + until_days
        reschedule(practice, enrollment, plan, "boost#5", start=last.start + timedelta(days=3))
    assert "until_days" in err.value.explanation.blockers[0].detail
    moved = reschedule(practice, enrollment, plan, "boost#5",
                       start=last.start + timedelta(days=2))
    verify(practice, enrollment, moved.plan)


def test_reschedule_keeps_the_horizon_but_never_evicts_booked_sessions():
    practice, enrollment, plan = _boosters(until_days=365, horizon_days=40)
    assert [(day(s.start) - MONDAY).days for s in plan.sessions] == [0, 7, 14, 21, 28, 35]
    last = plan.session("boost#6")
    with pytest.raises(PlacementError):  # day 42: beyond the horizon (day 39 is the last)
        reschedule(practice, enrollment, plan, "boost#6", start=last.start + timedelta(days=7))
    moved = reschedule(practice, enrollment, plan, "boost#6",
                       start=last.start + timedelta(days=3))
    assert day(moved.plan.session("boost#6").start) == MONDAY + timedelta(days=38)
    verify(practice, enrollment, moved.plan)
    # boosters booked beyond a (shorter) horizon are not evicted by moving an earlier one
    short = replace(enrollment, horizon_end=MONDAY + timedelta(days=25))
    kept = reschedule(practice, short, plan, "boost#3",
                      start=plan.session("boost#3").start + timedelta(hours=1))
    assert kept.plan.sessions[3:] == plan.sessions[3:]


# -- property: extension of random plans ------------------------------------------------------

OPTIONS = SearchOptions(max_evaluations=4000, max_backtracks=60, explain_earliest_date=False)


@st.composite
def open_ended_protocols(draw):
    """Random protocols whose last phase is open-ended (how the templates are shaped)."""
    protocol = draw(protocols())
    phases = [p if p.count is not None else replace(p, count=2, until_days=None)
              for p in protocol.phases]
    last = phases[-1]
    gap = last.gap_days or GapDays(2, 4, 6)
    phases[-1] = replace(last, count=None, until_days=draw(st.integers(15, 90)), gap_days=gap,
                         within_days=None if last.within_days is None
                         else max(last.within_days, gap.max))
    return replace(protocol, phases=tuple(phases))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(practices(), open_ended_protocols(), st.integers(5, 40), st.integers(1, 60),
       st.integers(0, 10))
def test_extensions_of_random_plans_are_valid(practice, protocol, first, more, offset):
    start = date(2026, 10, 19) + timedelta(days=offset)
    short = Enrollment("pat1", protocol, start, horizon_end=start + timedelta(days=first))
    try:
        fixed = place_plan(practice, short, OPTIONS)
    except PlacementError:
        assume(False)
        return
    longer = replace(short, horizon_end=short.horizon + timedelta(days=more))
    try:
        extended = extend_plan(practice, longer, fixed, OPTIONS)
    except PlacementError as err:
        assert err.explanation.blockers and err.explanation.session_key
        event(f"failure: {err.explanation.blockers[0].code}")
        return
    event("extended" if extended is not fixed else "nothing due")
    assert extended.sessions[:len(fixed.sessions)] == fixed.sessions
    verify(practice, longer, extended)
    assert extend_plan(practice, longer, extended, OPTIONS) is extended
