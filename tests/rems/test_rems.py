"""Esketamine REMS (SPEC 12, issue 13), through the API, on both sides of each boundary."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from .conftest import local_date, planned_dose, start_of


def _check_in(api, clock, appt, expect=200):
    clock.move_to(start_of(appt) - timedelta(minutes=30))
    return api.post(f"/appointments/{appt['id']}/check-in", expect=expect)


def _complete(api, clock, appt, expect=200, at=None, **body):
    clock.move_to(at or planned_dose(appt) + timedelta(hours=3))
    return api.post(f"/appointments/{appt['id']}/complete", body or None, expect=expect)


def _iso(moment):
    return moment.isoformat()


# ---------------------------------------------------------------- patient enrollment

def test_a_plan_for_an_unenrolled_patient_is_placed_with_a_warning(api, enroll):
    held, booked, first = enroll(rems_enrolled_on=None)
    for answer in (held, booked, api.get(f"/enrollments/{held['id']}")):
        [warning] = answer["warnings"]
        assert warning["code"] == "rems_enrollment_missing"
        assert warning["first_dose_on"] == local_date(first).isoformat()
        assert warning["first_dose_on"] in warning["message"]
    assert booked["status"] == "booked"


@pytest.mark.parametrize(("days_before_first_dose", "warned"), [(1, False), (0, False),
                                                                 (-1, True)])
def test_enrolled_before_or_after_the_first_dose(api, enroll, practice,
                                                  days_before_first_dose, warned):
    # Place once to learn the first dose's date, then enroll a second patient relative to it.
    _, _, probe = enroll()
    first_day = local_date(probe)
    api.post(f"/enrollments/{probe['enrollment_id']}/cancel", expect=200)
    enrolled_on = first_day - timedelta(days=days_before_first_dose)
    held, _, first = enroll(rems_enrolled_on=enrolled_on.isoformat())
    assert local_date(first) == first_day
    assert bool(held["warnings"]) is warned


@pytest.mark.parametrize(("enrolled_offset", "expect"),
                         [(-1, 200), (0, 200), (1, 409), (None, 409)])
def test_check_in_of_a_dose_needs_the_enrollment_by_that_day(api, clock, enroll, enrolled_offset,
                                                             expect):
    _, _, probe = enroll()
    first_day = local_date(probe)
    api.post(f"/enrollments/{probe['enrollment_id']}/cancel", expect=200)
    enrolled_on = None if enrolled_offset is None else first_day + timedelta(days=enrolled_offset)
    _, _, first = enroll(rems_enrolled_on=enrolled_on and enrolled_on.isoformat())
    answer = _check_in(api, clock, first, expect=expect)
    if expect == 409:
        details = answer["error"]["details"]
        assert details["reason"] == "rems_enrollment_missing"
        assert details["session_on"] == first_day.isoformat()
        assert details["rems_enrolled_on"] == (enrolled_on and enrolled_on.isoformat())
        assert "rems_enrolled_on" in answer["error"]["message"] or \
            "REMS enrollment" in answer["error"]["message"]
        assert api.get(f"/appointments/{first['id']}")["status"] == "booked"
    else:
        assert answer["status"] == "checked_in"


def test_non_dose_sessions_need_no_enrollment(api, clock, enroll):
    _, booked, _ = enroll()
    consult = next(a for a in booked["appointments"] if a["session_kind"] == "consult")
    assert _check_in(api, clock, consult)["status"] == "checked_in"


# ---------------------------------------------------------------- monitoring at discharge

@pytest.fixture
def checked_in(api, clock, enroll):
    _, _, first = enroll(rems_enrolled_on="2026-12-01")
    _check_in(api, clock, first)
    return first


@pytest.mark.parametrize(("minutes", "expect"), [(119, 409), (120, 200)])
def test_discharge_needs_two_hours_after_the_dose(api, clock, checked_in, minutes, expect):
    dose = planned_dose(checked_in) + timedelta(minutes=5)  # given a little late
    answer = _complete(api, clock, checked_in, expect=expect, dose_at=_iso(dose),
                       discharged_at=_iso(dose + timedelta(minutes=minutes)))
    forms = api.get("/rems/forms")
    if expect == 409:
        details = answer["error"]["details"]
        assert details["reason"] == "monitoring_too_short"
        assert details["min_monitoring_minutes"] == 120
        assert details["earliest_discharge_at"] == _iso(dose + timedelta(minutes=120))
        assert api.get(f"/appointments/{checked_in['id']}")["status"] == "checked_in"
        assert forms == []  # completes nothing
    else:
        assert answer["status"] == "completed"
        [form] = forms
        assert form["appointment_id"] == checked_in["id"]
        assert form["dose_at"] == _iso(dose)
        assert form["discharged_at"] == _iso(dose + timedelta(minutes=120))


@pytest.mark.parametrize(("after_dose", "expect"), [(119, 409), (120, 200)])
def test_defaults_are_the_planned_dose_and_now(api, clock, checked_in, after_dose, expect):
    at = planned_dose(checked_in) + timedelta(minutes=after_dose)
    _complete(api, clock, checked_in, expect=expect, at=at)
    if expect == 200:
        [form] = api.get("/rems/forms")
        assert form["dose_at"] == _iso(planned_dose(checked_in))
        assert form["discharged_at"] == _iso(at)


def test_monitoring_times_only_for_sessions_that_owe_them(api, clock, enroll):
    _, booked, _ = enroll(rems_enrolled_on="2026-12-01")
    consult = next(a for a in booked["appointments"] if a["session_kind"] == "consult")
    _check_in(api, clock, consult)
    answer = _complete(api, clock, consult, expect=422,
                       discharged_at=_iso(start_of(consult) + timedelta(hours=1)))
    assert "discharged_at" in str(answer["error"])
    assert _complete(api, clock, consult)["status"] == "completed"
    assert api.get("/rems/forms") == []


def test_a_discharge_in_the_future_is_refused(api, clock, checked_in):
    at = planned_dose(checked_in) + timedelta(hours=3)
    _complete(api, clock, checked_in, expect=422, at=at,
              discharged_at=_iso(at + timedelta(minutes=10)))


# ---------------------------------------------------------------- the forms worklist

@pytest.fixture
def completed(api, clock, checked_in):
    _complete(api, clock, checked_in)
    return checked_in


def _at_local_noon(clock, day: date, like):
    clock.move_to(start_of(like).replace(year=day.year, month=day.month, day=day.day, hour=12,
                                         minute=0))


@pytest.mark.parametrize(("day", "status"), [(7, "due"), (8, "overdue")])
def test_a_form_is_due_seven_calendar_days_after_the_session(api, clock, completed, day,
                                                              status):
    session_on = local_date(completed)
    [form] = api.get("/rems/forms")
    assert form["session_on"] == session_on.isoformat()
    assert form["due_on"] == (session_on + timedelta(days=7)).isoformat()
    _at_local_noon(clock, session_on + timedelta(days=day), completed)
    [form] = api.get("/rems/forms")
    assert form["status"] == status
    listed = api.get(f"/rems/forms?status={status}")
    assert [f["id"] for f in listed] == [form["id"]]
    other = "overdue" if status == "due" else "due"
    assert api.get(f"/rems/forms?status={other}") == []
    assert api.get("/rems/forms?status=submitted") == []


def test_the_job_flags_overdue_forms_once_under_a_controlled_clock(app, api, clock, completed):
    from scheduler.jobs.runner import run_job

    session_on = local_date(completed)
    # Day 7, the last minute of it at the clinic: not late yet.
    last_minute = start_of(completed).replace(hour=23, minute=59) + timedelta(days=7)
    clock.move_to(last_minute)
    assert run_job(app, "flag_overdue_rems_forms", runner="test").result == 0
    assert api.get("/rems/forms")[0]["overdue_flagged_at"] is None
    # Day 8 at local midnight: late.
    clock.move_to(last_minute + timedelta(minutes=1))
    assert local_date({"start": (last_minute + timedelta(minutes=1)).isoformat()}) == \
        session_on + timedelta(days=8)
    assert run_job(app, "flag_overdue_rems_forms", runner="test").result == 1
    [form] = api.get("/rems/forms?status=overdue")
    assert form["overdue_flagged_at"] is not None
    assert run_job(app, "flag_overdue_rems_forms", runner="test").result == 0


def test_the_job_announces_each_overdue_form_through_the_webhook_hook(app, api, clock,
                                                                      completed, monkeypatch):
    from scheduler.jobs.runner import run_job
    from scheduler.services import rems

    announced = []
    monkeypatch.setattr(rems, "announce_form_overdue", lambda form: announced.append(form.id))
    _at_local_noon(clock, local_date(completed) + timedelta(days=8), completed)
    run_job(app, "flag_overdue_rems_forms", runner="test")
    run_job(app, "flag_overdue_rems_forms", runner="test")
    assert announced == [api.get("/rems/forms")[0]["id"]]


def test_a_submitted_form_is_neither_due_nor_flagged(app, api, clock, completed):
    from scheduler.jobs.runner import run_job

    session_on = local_date(completed)
    _at_local_noon(clock, session_on + timedelta(days=2), completed)
    sent = api.post(f"/appointments/{completed['id']}/rems-form",
                    {"submitted_on": (session_on + timedelta(days=1)).isoformat(),
                     "reference": "PMF-123"}, expect=200)
    assert sent["status"] == "submitted" and sent["reference"] == "PMF-123"
    # The same submission again changes nothing; another one is a conflict.
    api.post(f"/appointments/{completed['id']}/rems-form",
             {"submitted_on": (session_on + timedelta(days=1)).isoformat(),
              "reference": "PMF-123"}, expect=200)
    again = api.post(f"/appointments/{completed['id']}/rems-form",
                     {"reference": "PMF-999"}, expect=409)
    assert again["error"]["details"]["reference"] == "PMF-123"
    _at_local_noon(clock, session_on + timedelta(days=30), completed)
    assert run_job(app, "flag_overdue_rems_forms", runner="test").result == 0
    assert [f["status"] for f in api.get("/rems/forms?status=submitted")] == ["submitted"]


def test_submission_dates_are_checked(api, clock, completed):
    session_on = local_date(completed)
    _at_local_noon(clock, session_on + timedelta(days=2), completed)
    for bad in (session_on - timedelta(days=1), session_on + timedelta(days=3)):
        answer = api.post(f"/appointments/{completed['id']}/rems-form",
                          {"submitted_on": bad.isoformat(), "reference": "x"}, expect=422)
        assert "submitted_on" in str(answer["error"])
    api.post(f"/appointments/{completed['id']}/rems-form", {"submitted_on": "2027-01-01"},
             expect=422)  # reference is required


def test_only_a_completed_dose_session_owes_a_form(api, clock, checked_in):
    answer = api.post(f"/appointments/{checked_in['id']}/rems-form", {"reference": "x"},
                      expect=409)
    assert answer["error"]["details"]["reason"] == "no_monitoring_form_owed"


# ---------------------------------------------------------------- the tenant wall

def test_a_scoped_key_sees_only_its_clinics_forms(api, client, keys, clock, practice, enroll):
    from tests.support.factories import Api
    from tests.support.practice import build_practice

    other = build_practice(api, templates=())
    protocol = practice.protocols["esketamine-label"]
    mine = [enroll(rems_enrolled_on="2026-12-01", clinic=clinic, protocol=protocol)[2]
            for clinic in (practice.clinic, other.clinic)]
    for first in mine:
        _check_in(api, clock, first)
        _complete(api, clock, first)
    desk = Api(client, keys("front_desk", clinics=[practice.clinic]))
    seen = desk.get("/rems/forms")
    assert [f["appointment_id"] for f in seen] == [mine[0]["id"]]
    assert all(f["clinic_id"] == practice.clinic for f in seen)
    desk.get(f"/rems/forms?clinic_id={other.clinic}", expect=404)
    desk.post(f"/appointments/{mine[1]['id']}/rems-form", {"reference": "x"}, expect=404)
    assert len(api.get("/rems/forms")) == 2
    assert [f["appointment_id"] for f in api.get(f"/rems/forms?clinic_id={other.clinic}")] == \
        [mine[1]["id"]]
