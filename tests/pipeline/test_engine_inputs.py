"""The pipeline's pure parts: the moment of the request bounds the engine, a moved plan's own old
slots are free to it, and stored rules read back exactly as written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.engine import Preferences, find_slots, place_plan, reschedule
from scheduler.engine import StaffMember as Person
from scheduler.rules import templates
from scheduler.rules.model import GapDays
from scheduler.rules.stored import stored_protocol, stored_session_kind
from scheduler.rules.validation import protocol_to_dict, session_kind_to_dict
from tests.engine.engine_factory import (
    ALL_DAYS,
    iv_depression,
    make_enrollment,
    make_practice,
    one_phase,
    shifts,
    verify,
    weekly,
)

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 6, 1)


def _round_the_clock_utc():
    staff = [Person("nurse0", frozenset({"nurse"}), 2, shifts(1, "00:00", "24:00", ALL_DAYS)),
             Person("doc0", frozenset({"prescriber"}), 1, shifts(1, "00:00", "24:00", ALL_DAYS)),
             Person("ther0", frozenset({"therapist"}), 1,
                    shifts(1, "00:00", "24:00", ALL_DAYS))]
    return make_practice("UTC", hours=weekly("00:00", "24:00", ALL_DAYS), staff=staff)


def test_a_plan_starting_today_starts_after_the_moment_of_the_request():
    practice = _round_the_clock_utc()
    now = datetime(2026, 6, 3, 18, 53, tzinfo=UTC)
    enrollment = make_enrollment(iv_depression(), now.date(), not_before=now)
    plan = place_plan(practice, enrollment)
    assert min(s.start for s in plan.sessions) >= now
    # today is still used: the first session is this evening, not tomorrow
    assert plan.sessions[0].start.date() == now.date()
    verify(practice, enrollment, plan)


def test_not_before_must_be_an_instant():
    with pytest.raises(ValueError):
        make_enrollment(iv_depression(), MONDAY, not_before=datetime(2026, 6, 1, 12))


def test_a_moved_plan_may_take_the_slots_its_own_later_sessions_leave():
    """Moving #1 onto #2's day: #2 moves on anyway (gap_days), so #1 may take #2's old time;
    it lands on the first start /availability offers, not after #2's old slot."""
    practice = make_practice(nurses=1, infusion_rooms=1)
    protocol = one_phase(count=4, gap_days=GapDays(2, 2, 7))
    enrollment = make_enrollment(protocol, MONDAY, preferences=Preferences(time=9 * 60))
    plan = place_plan(practice, enrollment)
    assert [s.start.astimezone(NY).strftime("%a %H:%M") for s in plan.sessions] == \
        ["Mon 09:00", "Wed 09:00", "Fri 09:00", "Mon 09:00"]
    not_before = datetime(2026, 6, 3, 0, 0, tzinfo=NY)  # Wednesday, #2's day
    result = reschedule(practice, enrollment, plan, "series#1", not_before=not_before)
    first_free = find_slots(practice, "iv_infusion", not_before,
                            not_before + timedelta(days=1))[0].start
    assert result.plan.session("series#1").start == first_free
    # the later sessions kept their wall-clock time as they moved on
    assert [s.start.astimezone(NY).strftime("%H:%M") for s in result.plan.sessions[1:]] == \
        ["09:00"] * 3
    verify(practice, enrollment, result.plan)


@pytest.mark.parametrize("code", templates.template_codes())
def test_stored_rules_read_back_equal(code):
    protocol, kinds, _ = templates.load_template(code)
    assert stored_protocol(protocol_to_dict(protocol)) == protocol
    for kind in kinds.values():
        assert stored_session_kind(session_kind_to_dict(kind)) == kind
