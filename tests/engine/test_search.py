"""Backtracking, explanations with the earliest workable date, and determinism."""

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from scheduler.engine import PlacementError, SearchOptions, StaffMember, TimeOff, place_plan
from scheduler.rules.model import After, GapDays, Phase, Protocol
from tests.engine.engine_factory import (
    ALL_DAYS,
    block,
    iv_depression,
    local,
    make_enrollment,
    make_practice,
    one_phase,
    shifts,
    verify,
    weekly,
)

NY = "America/New_York"
MONDAY = date(2026, 6, 1)


def room_blocked(first: date, last: date, rooms=("inf0",)):
    return [block("room", r, local(NY, first.year, first.month, first.day, 0),
                  local(NY, last.year, last.month, last.day, 23, 59)) for r in rooms]


def seven_days(**kw):
    staff = [StaffMember("rn", frozenset({"nurse"}), 2, shifts(days=ALL_DAYS)),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts(days=ALL_DAYS))]
    return make_practice(hours=weekly(days=ALL_DAYS), staff=staff, infusion_rooms=1, **kw)


def test_backtracking_succeeds_where_greedy_fails():
    wednesday = MONDAY + timedelta(days=2)
    practice = seven_days(bookings=room_blocked(wednesday, wednesday))
    protocol = one_phase(count=3, gap_days=GapDays(1, 1, 1))  # three consecutive days
    enrollment = make_enrollment(protocol, MONDAY)
    greedy = SearchOptions(max_backtracks=0, explain_earliest_date=False)
    with pytest.raises(PlacementError):
        place_plan(practice, enrollment, greedy)
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    first = plan.sessions[0].start.astimezone(local(NY, 2026, 1, 1).tzinfo).date()
    assert first == MONDAY + timedelta(days=3)


def test_backjumping_moves_the_session_that_bounds_the_window():
    """The 6th infusion is squeezed by within_days: the series must start later, which needs
    moving induction #1 past five placed infusions and their follow-ups."""
    closed = [MONDAY + timedelta(days=d) for d in range(8, 13)]
    practice = make_practice(closures=closed, nurses=2)
    protocol = iv_depression(boosters=1)
    protocol = Protocol(protocol.code, protocol.name, (
        protocol.phases[0],
        Phase("induction", "iv_infusion", count=6, after=After("consult", 1, 30),
              gap_days=GapDays(1, 1, 4), within_days=10, max_per_week=4,
              follow_up=protocol.phases[1].follow_up),
        protocol.phases[2]), min_hours_between_doses=22)
    enrollment = make_enrollment(protocol, MONDAY)
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)


def test_explanation_names_session_rule_and_earliest_date():
    practice = seven_days(bookings=room_blocked(MONDAY + timedelta(days=3),
                                                MONDAY + timedelta(days=40)))
    protocol = one_phase(count=6, gap_days=GapDays(1, 1, 2), within_days=8)
    enrollment = make_enrollment(protocol, MONDAY)
    with pytest.raises(PlacementError) as err:
        place_plan(practice, enrollment)
    explanation = err.value.explanation
    assert explanation.session_key == "series#4"
    assert explanation.blockers[0].code == "room"
    assert explanation.message.startswith(
        "Every room at the clinic with iv_pump and vitals_monitor is taken")
    assert "Series #4 could not be placed" in explanation.message
    earliest = explanation.earliest_start_on
    assert earliest is not None
    # from the earliest date the plan fits; one day earlier it does not
    plan = place_plan(practice, make_enrollment(protocol, earliest))
    verify(practice, make_enrollment(protocol, earliest), plan)
    with pytest.raises(PlacementError):
        place_plan(practice, make_enrollment(protocol, earliest - timedelta(days=1)),
                   SearchOptions(explain_earliest_date=False))
    data = explanation.to_dict()
    assert data["session_key"] == "series#4" and data["blocking"][0]["code"] == "room"
    assert data["earliest_start_on"] == earliest.isoformat()


def test_explanation_for_staff_on_leave():
    off = TimeOff(local(NY, 2026, 6, 1), local(NY, 2026, 7, 1))
    staff = [StaffMember("rn", frozenset({"nurse"}), 2, shifts(), (off,)),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts())]
    practice = make_practice(staff=staff)
    with pytest.raises(PlacementError) as err:
        place_plan(practice, make_enrollment(one_phase(), MONDAY))
    explanation = err.value.explanation
    assert explanation.session_key == "series#1"
    assert [b.code for b in explanation.blockers][:1] == ["staff_shift"]
    assert explanation.message.startswith("No nurse is on shift at the clinic")
    assert explanation.earliest_start_on == date(2026, 6, 17)  # 14-day start window to Jul 1


def test_no_workable_date_within_a_year():
    practice = seven_days(bookings=room_blocked(MONDAY, MONDAY + timedelta(days=500)))
    with pytest.raises(PlacementError) as err:
        place_plan(practice, make_enrollment(one_phase(), MONDAY))
    assert err.value.explanation.earliest_start_on is None
    assert "No start date within a year works" in err.value.explanation.message


def test_same_input_same_plan_in_process():
    practice = make_practice()
    enrollment = make_enrollment(iv_depression(), MONDAY)
    assert place_plan(practice, enrollment) == place_plan(practice, enrollment)


SCRIPT = """
import sys
sys.path[:0] = [{root!r}]
from datetime import date
from tests.engine.engine_factory import iv_depression, make_enrollment, make_practice, block, local
from scheduler.engine import place_plan
practice = make_practice(nurses=3, infusion_rooms=3, bookings=[
    block("room", "inf0", local("America/New_York", 2026, 6, 2, 8),
          local("America/New_York", 2026, 6, 2, 12))])
plan = place_plan(practice, make_enrollment(iv_depression(), date(2026, 6, 1)))
for s in plan.sessions:
    print(s.key, s.start.isoformat(), s.room_id, s.staff_ids, sorted(map(repr, s.allocations)))
"""


def test_same_plan_under_different_hash_seeds():
    here = Path(__file__).resolve().parent
    code = SCRIPT.format(root=str(here.parents[1]))
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1 and "induction#6" in outputs.pop()
