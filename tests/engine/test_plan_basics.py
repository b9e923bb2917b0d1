"""A whole plan in a quiet clinic: every session placed, every rule and resource rule holds."""

from datetime import date

from scheduler.engine import Preferences, place_plan
from tests.engine.engine_factory import (
    iv_depression,
    make_enrollment,
    make_practice,
    verify,
)


def test_iv_depression_plan_is_complete_and_valid():
    practice = make_practice()
    enrollment = make_enrollment(iv_depression(), date(2026, 10, 26))
    plan = place_plan(practice, enrollment)
    assert len(plan.sessions) == 17
    assert [s.key for s in plan.sessions][:3] == ["consult#1", "induction#1",
                                                   "induction#1/follow_up"]
    verify(practice, enrollment, plan)


def test_preferred_time_and_same_nurse_and_room():
    practice = make_practice(nurses=3, infusion_rooms=3)
    enrollment = make_enrollment(iv_depression(), date(2026, 10, 26),
                                 preferences=Preferences(time=14 * 60, staff_id="nurse2"))
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    infusions = [s for s in plan.sessions if s.kind == "iv_infusion"]
    assert {s.staff_ids for s in infusions} == {("nurse2",)}
    assert len({s.room_id for s in infusions}) == 1
    tz = practice.clinic.timezone
    from zoneinfo import ZoneInfo

    assert {s.start.astimezone(ZoneInfo(tz)).strftime("%H:%M") for s in infusions} == {"14:00"}
