"""Cheap failures that still explain themselves: series no start date can fit (decided before
searching), the earliest-date search's work limit, and dead ends remembered across attempts."""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scheduler.engine import Availability, PlacementError, SearchOptions, place_plan
from scheduler.engine.context import Memo
from scheduler.engine.placement import ProtocolSteps, earliest_start, make_context
from scheduler.engine.search import backtrack
from scheduler.engine.weekly import never_fitting_phase
from scheduler.rules.model import FollowUp, GapDays
from tests.engine.engine_factory import (
    hm,
    iv_depression,
    make_enrollment,
    make_practice,
    one_phase,
    verify,
    weekly,
)
from tests.engine.test_properties import enrollments, practices
from tests.engine.test_search import room_blocked, seven_days

MONDAY = date(2026, 6, 1)
BIG = SearchOptions(max_backtracks=20_000, max_evaluations=2_000_000,
                    explain_earliest_date=False)


def search_only(practice, enrollment, options=BIG):
    """The backtracking search alone, without the checks made before it."""
    ctx = make_context(practice, enrollment, options)
    placed, _ = backtrack(ctx, ProtocolSteps(ctx), [])
    return placed


def mon_to_thu():
    return Availability(weekdays=frozenset({"mon", "tue", "wed", "thu"}), earliest=hm("08:00"),
                        latest=hm("17:00"))


def test_a_series_no_week_can_hold_fails_at_once_and_says_why():
    """Integration 24-72 h after each infusion, the patient only Mon-Thu: a Thursday infusion's
    follow-up falls on Fri-Sun, so infusions are Mon-Wed only, and Wed -> Mon is 5 days, more
    than gap_days.max 4. No start date can ever work; nothing is searched."""
    practice = make_practice()
    enrollment = make_enrollment(iv_depression(), MONDAY, availability=mon_to_thu())
    with pytest.raises(PlacementError) as err:
        place_plan(practice, enrollment)
    explanation = err.value.explanation
    assert explanation.session_key == "induction#1"
    assert [b.code for b in explanation.blockers] == ["series", "availability"]
    assert "mon/tue/wed/thu 08:00-17:00" in explanation.blockers[1].detail
    assert explanation.earliest_start_on is None
    assert "No start date within a year works" in explanation.message
    assert explanation.notes and "follow_up" in explanation.blockers[0].detail
    assert explanation.to_dict()["earliest_search_complete"] is True
    # the search itself agrees, from every weekday of two weeks
    for offset in range(14):
        start = MONDAY + timedelta(days=offset)
        later = make_enrollment(iv_depression(), start, availability=mon_to_thu())
        assert search_only(practice, later) is None


def test_the_same_patient_on_three_weekdays_that_can_work_is_searched_and_placed():
    practice = make_practice()
    availability = Availability(weekdays=frozenset({"mon", "tue", "wed", "fri"}),
                                earliest=hm("08:00"), latest=hm("17:00"))
    enrollment = make_enrollment(iv_depression(), MONDAY, availability=availability)
    assert never_fitting_phase(make_context(practice, enrollment, SearchOptions())) is None
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)


def test_opening_hours_alone_can_rule_a_series_out():
    # open Mon and Tue only; 3 sessions 3-4 days apart within 7 days need 3 open days a week
    practice = make_practice(hours=weekly(days=("mon", "tue")))
    protocol = one_phase(count=3, gap_days=GapDays(3, 3, 4), within_days=7)
    with pytest.raises(PlacementError) as err:
        place_plan(practice, make_enrollment(protocol, MONDAY))
    assert [b.code for b in err.value.explanation.blockers] == ["hours", "series"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(practices(), enrollments())
def test_the_weekly_check_never_rules_out_a_plan_the_search_finds(practice, enrollment):
    ctx = make_context(practice, enrollment, SearchOptions())
    if never_fitting_phase(ctx) is None:
        event("fits some week")
        return
    event("never fits")
    for offset in range(7):
        start = enrollment.start_on + timedelta(days=offset)
        later = make_enrollment(enrollment.protocol, start, availability=enrollment.availability)
        options = SearchOptions(max_backtracks=300, max_evaluations=30_000,
                                explain_earliest_date=False)
        assert search_only(practice, later, options) is None


def test_follow_ups_in_real_hours_are_not_cut_by_the_weekly_check():
    """A follow-up 60-70 h after a Friday session lands on Monday: the check must see it."""
    practice = make_practice()
    protocol = one_phase(count=1, follow_up=FollowUp("integration", 60, 70))
    availability = Availability(weekdays=frozenset({"mon", "fri"}))
    enrollment = make_enrollment(protocol, MONDAY, availability=availability)
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)


# -- the earliest-date search --------------------------------------------------------------


def blocked_for_weeks():
    practice = seven_days(bookings=room_blocked(MONDAY + timedelta(days=3),
                                                MONDAY + timedelta(days=40)))
    protocol = one_phase(count=6, gap_days=GapDays(1, 1, 2), within_days=8)
    return practice, make_enrollment(protocol, MONDAY)


def test_the_earliest_date_search_stops_at_its_work_limit_and_says_so():
    practice, enrollment = blocked_for_weeks()
    with pytest.raises(PlacementError) as err:
        place_plan(practice, enrollment, SearchOptions(earliest_date_max_evaluations=1))
    explanation = err.value.explanation
    assert explanation.earliest_start_on is None and explanation.earliest_search_limited
    assert "No start date within a year works" not in explanation.message
    assert "work limit" in explanation.message
    assert explanation.to_dict()["earliest_search_complete"] is False
    assert explanation.session_key == "series#4" and explanation.blockers[0].code == "room"


def test_a_date_found_before_the_limit_is_a_verified_one():
    practice, enrollment = blocked_for_weeks()
    full, complete = earliest_start(practice, enrollment, SearchOptions(),
                                    make_context(practice, enrollment, SearchOptions()).occupancy
                                    .bookings)
    assert complete and full is not None
    for cap in (3_000, 6_000, 9_000):
        found, complete = earliest_start(
            practice, enrollment, SearchOptions(earliest_date_max_evaluations=cap),
            make_context(practice, enrollment, SearchOptions()).occupancy.bookings)
        if found is None:
            assert not complete
            continue
        assert found >= full
        later = make_enrollment(enrollment.protocol, found)
        verify(practice, later, place_plan(practice, later))


def test_attempts_share_what_the_failed_search_learned():
    practice, enrollment = blocked_for_weeks()
    ctx = make_context(practice, enrollment, SearchOptions())
    assert backtrack(ctx, ProtocolSteps(ctx), [])[0] is None
    memo = ctx.memo
    assert memo.misses and memo.day_starts
    shared, _ = earliest_start(practice, enrollment, SearchOptions(), ctx.occupancy.bookings,
                               memo)
    fresh, _ = earliest_start(practice, enrollment, SearchOptions(), ctx.occupancy.bookings,
                              Memo())
    assert shared == fresh is not None


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 10), st.integers(0, 60), st.integers(2, 6), st.integers(1, 3),
       st.integers(0, 3), st.sampled_from([None, 2, 3]))
def test_the_earliest_date_given_is_one_a_plan_fits_from(first, days, count, gap_min, extra,
                                                         per_week):
    """Blocked stretches of the only infusion room make plans fail with an earliest date; a
    plan must then fit from that date."""
    practice = seven_days(bookings=room_blocked(MONDAY + timedelta(days=first),
                                                MONDAY + timedelta(days=first + days)))
    gap = GapDays(gap_min, gap_min, gap_min + extra)
    protocol = one_phase(count=count, gap_days=gap, within_days=(count - 1) * gap.max,
                         max_per_week=per_week)
    enrollment = make_enrollment(protocol, MONDAY)
    try:
        place_plan(practice, enrollment)
        event("placed")
        return
    except PlacementError as err:
        earliest = err.explanation.earliest_start_on
        assert err.explanation.blockers
    if earliest is None:
        event("no date")
        return
    event("date")
    later = make_enrollment(protocol, earliest)
    verify(practice, later, place_plan(practice, later))
