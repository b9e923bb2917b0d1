"""Edge cases found in review: follow-ups of cancelled doses, expired holds, confirm re-check,
one patient in several dose plans, configuration changes under booked plans, huge inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture
def kap(api, practice):
    practice.protocols["kap"] = api.post("/protocol-templates/kap/instantiate", {})["id"]
    return practice


def _booked(api, enroll, patient_id, protocol="kap"):
    plan = enroll(patient_id, protocol=protocol)
    return api.post(f"/enrollments/{plan['id']}/confirm", expect=200)


def test_cancelling_a_dose_cancels_its_follow_up_and_the_plan_still_moves(api, kap, patient,
                                                                        enroll, db_problems):
    plan = _booked(api, enroll, patient["id"])
    doses = [a for a in plan["appointments"] if a["follow_up_of"] is None
             and any(b["follow_up_of"] == a["id"] for b in plan["appointments"])]
    assert len(doses) >= 3
    second = doses[1]
    follow = next(a for a in plan["appointments"] if a["follow_up_of"] == second["id"])
    api.post(f"/appointments/{second['id']}/cancel", expect=200)
    assert api.get(f"/appointments/{follow['id']}")["status"] == "cancelled"
    later = doses[-1]
    not_before = datetime.fromisoformat(later["start"]) + timedelta(days=1)
    response = api.call("POST", f"/appointments/{later['id']}/reschedule",
                        {"not_before": not_before.isoformat()})
    assert response.status_code in (200, 409), response.get_json()
    assert db_problems() == []


def test_an_orphaned_follow_up_does_not_break_rescheduling(api, kap, patient, enroll):
    """A dose marked no-show keeps its therapy session; moving other sessions still works."""
    plan = _booked(api, enroll, patient["id"])
    dose = next(a for a in plan["appointments"]
                if any(b["follow_up_of"] == a["id"] for b in plan["appointments"]))
    api.post(f"/appointments/{dose['id']}/no-show", expect=200)
    last = plan["appointments"][-1]
    response = api.call("POST", f"/appointments/{last['id']}/reschedule",
                        {"not_before": (datetime.fromisoformat(last["start"])
                                        + timedelta(hours=1)).isoformat()})
    assert response.status_code in (200, 409), response.get_json()


def test_rescheduling_an_expired_hold_is_409(app, api, practice, patient, enroll):
    from scheduler.extensions import db
    from scheduler.models import Enrollment

    plan = enroll(patient["id"])
    with app.app_context():
        db.session.get(Enrollment, plan["id"]).hold_expires_at = \
            datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    appt = plan["appointments"][1]
    response = api.post(f"/appointments/{appt['id']}/reschedule",
                        {"not_before": appt["start"]}, expect=409)
    assert response["error"]["details"]["status"] == "cancelled"


def test_confirm_refuses_a_held_plan_that_lost_a_session(api, practice, patient, enroll):
    plan = enroll(patient["id"])
    induction = next(a for a in plan["appointments"] if a["phase"] == "induction")
    api.post(f"/appointments/{induction['id']}/cancel", expect=200)
    response = api.post(f"/enrollments/{plan['id']}/confirm", expect=409)
    assert "no longer satisfies" in response["error"]["message"]
    assert api.get(f"/enrollments/{plan['id']}")["status"] == "held"


def test_horizon_job_goes_on_past_a_plan_it_cannot_extend(app, api, practice, patient, enroll,
                                                          monkeypatch):
    """One failing enrollment is logged and skipped; the job run itself succeeds."""
    for name in ("A", "B"):
        other = api.post("/patients", {"name": name, "clinic_id": practice.clinic})
        _booked(api, enroll, other["id"], protocol="iv-depression")
    from scheduler.errors import Conflict
    from scheduler.services import horizon

    calls = []

    def flaky(enrollment, now, horizon_days):
        calls.append(enrollment.id)
        if len(calls) == 1:
            raise Conflict("cannot")
        return True

    monkeypatch.setattr(horizon, "extend_one", flaky)
    from scheduler.extensions import db
    from scheduler.models import Enrollment

    with app.app_context():
        ids = [e.id for e in db.session.scalars(db.select(Enrollment))]
        assert len(ids) == 2
        assert horizon.extend_horizons(datetime.now(UTC)) == 1
    assert calls == ids


def test_enrollment_cannot_start_in_the_past(api, practice, patient):
    response = api.post("/enrollments", {
        "patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
        "clinic_id": practice.clinic, "start_on": "2020-01-06"}, expect=422)
    assert "start_on" in response["error"]["fields"]


def test_one_patient_gets_one_live_dose_plan(api, practice, patient, enroll):
    first = enroll(patient["id"])
    response = enroll(patient["id"], protocol="esketamine-label", expect=409)
    assert response["error"]["details"] == {"reason": "dose_plan_exists",
                                            "enrollment_id": first["id"]}
    api.post(f"/enrollments/{first['id']}/cancel", expect=200)
    enroll(patient["id"], protocol="esketamine-label")


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/clinics/100000000000000000000", None),
    ("GET", "/appointments?clinic_id=100000000000000000000", None),
    ("GET", "/appointments?start=9999-12-31T23:59:59-12:00", None),
    ("POST", "/patients", {"name": "x", "clinic_id": 100000000000000000000}),
    ("POST", "/enrollments", {"patient_id": 100000000000000000000, "protocol_id": 1,
                              "clinic_id": 1, "start_on": "2027-02-01"}),
    ("POST", "/enrollments", {"patient_id": 1, "protocol_id": 1, "clinic_id": 1,
                              "start_on": "9999-12-01"}),
    ("POST", "/clinics", {"name": "x", "timezone": "localtime"}),
    ("POST", "/clinics", {"name": "x", "timezone": "UTC", "closures": ["0001-01-01"]}),
])
def test_out_of_range_input_is_4xx_never_500(api, practice, patient, method, path, body):
    response = api.call(method, path, body)
    assert response.status_code in (404, 422), (response.status_code, response.get_json())
    assert "error" in response.get_json()


@pytest.fixture
def booked_plan(api, practice, patient, enroll):
    plan = enroll(patient["id"])
    return api.post(f"/enrollments/{plan['id']}/confirm", expect=200)


def _first_infusion(plan):
    return next(a for a in plan["appointments"] if a["session_kind"] == "iv_infusion")


def _ids(response):
    return set(response["error"]["details"]["appointment_ids"])


def test_closing_a_booked_day_is_refused(api, practice, booked_plan):
    from zoneinfo import ZoneInfo

    appt = _first_infusion(booked_plan)
    day = datetime.fromisoformat(appt["start"]).astimezone(ZoneInfo("America/New_York")).date()
    response = api.patch(f"/clinics/{practice.clinic}", {"closures": [day.isoformat()]},
                         expect=409)
    assert appt["id"] in _ids(response)
    for change in ({"hours": {"sat": [["09:00", "12:00"]]}}, {"timezone": "Asia/Tokyo"}):
        assert api.patch(f"/clinics/{practice.clinic}", change, expect=409)["error"]
    assert api.get(f"/clinics/{practice.clinic}")["closures"] == []
    harmless = {d: [["07:00", "19:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    api.patch(f"/clinics/{practice.clinic}", {"hours": harmless})


def test_removing_a_room_feature_booked_sessions_need_is_refused(api, booked_plan):
    appt = _first_infusion(booked_plan)
    room = next(x["resource_id"] for x in appt["allocations"] if x["resource_type"] == "room")
    response = api.patch(f"/rooms/{room}", {"features": ["recliner"]}, expect=409)
    assert appt["id"] in _ids(response)
    api.patch(f"/rooms/{room}", {"features": ["iv_pump", "vitals_monitor", "recliner", "tv"]})


def test_stranding_a_booked_nurse_is_refused(api, practice, booked_plan):
    appt = _first_infusion(booked_plan)
    nurse = next(x["resource_id"] for x in appt["allocations"] if x["resource_type"] == "staff")
    api.patch(f"/staff/{nurse}", {"shifts": []}, expect=409)
    api.patch(f"/staff/{nurse}", {"roles": ["therapist"]}, expect=409)
    assert api.get(f"/staff/{nurse}")["roles"] == ["nurse"]
    api.patch(f"/staff/{nurse}", {"roles": ["nurse", "crna"]})


def test_patient_preferences_are_the_default_soft_preferences(api, practice, enroll):
    nurse = practice.nurses[1]
    patient = api.post("/patients", {"name": "Pref", "clinic_id": practice.clinic,
                                     "preferences": {"time": "11:00", "staff_id": nurse}})
    plan = enroll(patient["id"])
    assert plan["preferences"] == {"time": "11:00", "staff_id": nurse}
    infusion = _first_infusion(plan)
    from zoneinfo import ZoneInfo

    assert datetime.fromisoformat(infusion["start"]).astimezone(
        ZoneInfo("America/New_York")).strftime("%H:%M") == "11:00"


def test_bare_dates_without_a_clinic_use_the_patients_clinic(api, practice, booked_plan):
    appt = _first_infusion(booked_plan)
    from zoneinfo import ZoneInfo

    day = datetime.fromisoformat(appt["start"]).astimezone(ZoneInfo("America/New_York")).date()
    found = api.get(f"/appointments?patient_id={booked_plan['patient_id']}&start={day}"
                    f"&end={day + timedelta(days=1)}")
    assert appt["id"] in {a["id"] for a in found}
    api.call("GET", f"/appointments?start={day}&end={day - timedelta(days=1)}", expect=422)


def test_availability_offers_nothing_in_the_past(api, practice):
    today = datetime.now(UTC).date()
    slots = api.get(f"/availability?clinic_id={practice.clinic}&session_kind=iv_infusion"
                    f"&start={today - timedelta(days=3)}&end={today + timedelta(days=3)}")
    now = datetime.now(UTC)
    assert all(datetime.fromisoformat(s["start"]) >= now for s in slots["slots"])
