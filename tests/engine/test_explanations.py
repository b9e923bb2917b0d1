"""409 explanations a front desk can read (issue 15): the cause first, in words, the data
beside it, one vocabulary of codes shared with the evaluator."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.engine import Availability, PlacementError, place_plan
from scheduler.rules import codes, evaluate
from scheduler.rules.session import PlacedSession
from tests.engine.engine_factory import (
    KINDS,
    block,
    iv_depression,
    local,
    make_enrollment,
    make_practice,
    one_phase,
    weekly,
)

MONDAY = date(2026, 6, 1)
TZ = "America/New_York"
SIX_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat")


def _failure(practice, enrollment):
    with pytest.raises(PlacementError) as err:
        place_plan(practice, enrollment)
    return err.value.explanation


def test_nobody_on_shift_on_the_patients_day_leads_not_the_availability():
    # Open on Saturdays, but every shift is Monday to Friday; the patient comes on Saturdays.
    practice = make_practice(hours=weekly(days=SIX_DAYS))
    enrollment = make_enrollment(one_phase(), MONDAY,
                                 availability=Availability(weekdays=frozenset({"sat"})))
    explanation = _failure(practice, enrollment).at_clinic("Back Bay", TZ)
    message = explanation.message
    cause = message.index("No nurse is on shift at Back Bay on Saturdays.")
    assert cause < message.index("The patient can come only on Saturdays."), message
    assert message.startswith("No ") and "outside the patient's availability" not in message
    data = explanation.to_dict()
    nurse = next(b for b in data["blocking"] if b["code"] == codes.STAFF_SHIFT)
    assert nurse["detail"] == "nurse" and nurse["weekdays"] == ["sat"]
    assert data["blocking"][-1]["code"] == codes.AVAILABILITY  # the frame, after the cause
    assert "The patient can come only on Saturdays." in explanation.message


def test_a_clinic_closed_on_the_patients_only_day_says_so():
    practice = make_practice()  # Monday to Friday
    enrollment = make_enrollment(one_phase(), MONDAY,
                                 availability=Availability(weekdays=frozenset({"sun"})))
    explanation = _failure(practice, enrollment).at_clinic("Back Bay", TZ)
    assert explanation.message.startswith("Back Bay is closed on Sundays."), explanation.message
    assert explanation.blockers[0].code == codes.CLOSED
    assert explanation.blockers[0].weekdays == ("sun",)


def test_no_duplicates_in_blocking_and_no_empty_window():
    # Nobody works at the clinic: every session kind of the protocol lacks the same people.
    practice = make_practice(staff=[])
    explanation = _failure(practice, make_enrollment(iv_depression(), MONDAY))
    data = explanation.to_dict()
    pairs = [(b["code"], b["detail"]) for b in data["blocking"]]
    assert len(pairs) == len(set(pairs)), pairs
    assert (codes.STAFF_ROLE, "nurse") in pairs
    assert data["window"] is None
    assert "plan:" not in explanation.message


def test_the_window_reads_at_the_clinics_offset():
    room_busy = [block("room", r, local(TZ, 2026, 6, d, 0), local(TZ, 2026, 6, d + 1, 0))
                 for r in ("inf0", "inf1") for d in range(1, 30)]
    practice = make_practice(bookings=room_busy)
    explanation = _failure(practice, make_enrollment(one_phase(), MONDAY)).at_clinic("B", TZ)
    window = explanation.to_dict()["window"]
    assert window["start"].endswith("-04:00") and window["end"].endswith("-04:00")
    assert explanation.message.startswith("Every room at B with iv_pump and vitals_monitor")


def test_engine_and_evaluator_name_the_weekday_rule_alike():
    # Mondays only, and every Monday's rooms are taken: the other days are the rule's doing.
    mondays = [MONDAY + timedelta(days=7 * w) for w in range(6)]
    busy = [block("room", r, local(TZ, d.year, d.month, d.day, 0),
                  local(TZ, d.year, d.month, d.day, 23)) for r in ("inf0", "inf1") for d in mondays]
    practice = make_practice(bookings=busy)
    explanation = _failure(practice, make_enrollment(one_phase(weekdays=frozenset({"mon"})),
                                                     MONDAY))
    engine_codes = {b.code for b in explanation.blockers}
    assert codes.WEEKDAYS in engine_codes and engine_codes <= codes.CODES, engine_codes
    tuesday = datetime(2026, 6, 2, 10, tzinfo=ZoneInfo(TZ))
    session = PlacedSession("series#1", "series", "iv_infusion", tuesday,
                              tuesday + timedelta(minutes=KINDS["iv_infusion"].duration_minutes))
    [violation] = evaluate(one_phase(weekdays=frozenset({"mon"})), KINDS, [session],
                           tz=ZoneInfo(TZ))
    assert violation.rule == codes.WEEKDAYS


def test_every_code_has_words():
    from scheduler.engine.explain import SENTENCES

    assert set(codes.BLOCKERS) <= set(SENTENCES) <= codes.CODES
