"""POST /enrollments, confirm, cancel, holds, idempotency, explanations, tenant wall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.factories import Api

NY = ZoneInfo("America/New_York")


def _local(ts: str):
    return datetime.fromisoformat(ts).astimezone(NY)


def test_enrollment_places_a_held_plan(api, practice, patient, enroll, db_problems):
    plan = enroll(patient["id"])
    assert plan["status"] == "held" and plan["protocol_version"] == 1
    assert plan["patient_id"] == patient["id"]
    expires = datetime.fromisoformat(plan["hold_expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    appts = plan["appointments"]
    assert [a["key"] for a in appts][:2] == ["consult#1", "induction#1"]
    assert sum(a["phase"] == "induction" for a in appts) == 6
    for appt in appts:
        assert appt["status"] == "held"
        start, end = _local(appt["start"]), _local(appt["end"])
        assert start.strftime("%a") in ("Mon", "Tue", "Wed", "Thu", "Fri")
        assert "09:00" <= start.strftime("%H:%M") and end.strftime("%H:%M") <= "17:00"
        types = {a["resource_type"] for a in appt["allocations"]}
        assert types <= {"room", "staff"}  # SPEC: the patient's own row is internal
        if appt["session_kind"] == "iv_infusion":
            assert {"room", "staff"} <= types
    assert db_problems() == []


def test_confirm_books_everything_and_cancel_frees_it(api, practice, patient, enroll,
                                                      db_problems):
    plan = enroll(patient["id"])
    confirmed = api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    assert confirmed["status"] == "booked" and confirmed["hold_expires_at"] is None
    assert {a["status"] for a in confirmed["appointments"]} == {"booked"}
    again = api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    assert again["status"] == "booked"
    cancelled = api.post(f"/enrollments/{plan['id']}/cancel", expect=200)
    assert {a["status"] for a in cancelled["appointments"]} == {"cancelled"}
    assert not any(x["active"] for a in cancelled["appointments"] for x in a["allocations"])
    api.post(f"/enrollments/{plan['id']}/confirm", expect=409)
    # The freed slots are offered to the next patient: the same first infusion time.
    other = api.post("/patients", {"name": "B", "clinic_id": practice.clinic})
    second = enroll(other["id"])
    first_infusion = lambda p: next(a for a in p["appointments"] if a["key"] == "induction#1")  # noqa: E731
    assert first_infusion(second)["start"] == first_infusion(plan)["start"]
    assert db_problems() == []


def test_second_patient_never_overlaps_the_first(api, practice, patient, enroll, db_problems):
    first = enroll(patient["id"])
    for i in range(4):
        other = api.post("/patients", {"name": f"P{i}", "clinic_id": practice.clinic})
        enroll(other["id"])
    assert db_problems() == []
    listed = api.get(f"/appointments?clinic_id={practice.clinic}&page_size=500")
    assert len(listed) >= 5 * len(first["appointments"]) - 5


def test_expired_hold_cannot_be_confirmed_and_frees_its_slots(app, api, practice, patient,
                                                              enroll):
    from scheduler.extensions import db
    from scheduler.models import Enrollment

    plan = enroll(patient["id"])
    with app.app_context():
        row = db.session.get(Enrollment, plan["id"])
        row.hold_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    response = api.post(f"/enrollments/{plan['id']}/confirm", expect=409)
    assert "expired" in response["error"]["message"]
    fetched = api.get(f"/enrollments/{plan['id']}")
    assert fetched["status"] == "expired"
    assert {a["status"] for a in fetched["appointments"]} == {"cancelled"}


def test_expired_holds_do_not_block_new_enrollments(app, api, practice, patient, enroll):
    from scheduler.extensions import db
    from scheduler.models import Enrollment

    plan = enroll(patient["id"])
    with app.app_context():
        db.session.get(Enrollment, plan["id"]).hold_expires_at = \
            datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
    other = api.post("/patients", {"name": "B", "clinic_id": practice.clinic})
    second = enroll(other["id"])
    assert second["appointments"][1]["start"] == plan["appointments"][1]["start"]
    assert api.get(f"/enrollments/{plan['id']}")["status"] == "expired"


def test_no_plan_fits_is_409_with_reason_and_writes_nothing(api, practice, patient, enroll):
    for room in practice.rooms:
        api.patch(f"/rooms/{room}", {"features": ["consult"]})
    response = enroll(patient["id"], expect=409)
    error = response["error"]
    assert error["details"]["reason"] == "no_plan_fits"
    assert "iv_pump" in error["message"] or any(
        "iv_pump" in str(b) for b in error["details"]["blocking"])
    assert api.get("/appointments") == []


def test_plan_waits_for_staff_time_off(api, practice, patient, enroll, db_problems):
    """Every nurse is away for six weeks: the series starts when they are back."""
    for nurse in practice.nurses:
        api.post(f"/staff/{nurse}/time-off", {"start": "2027-01-30T00:00:00-05:00",
                                                "end": "2027-03-15T00:00:00-04:00"})
    plan = enroll(patient["id"], start_on="2027-02-01")
    infusions = [a for a in plan["appointments"] if a["session_kind"] == "iv_infusion"]
    assert min(a["start"] for a in infusions) >= "2027-03-15T04:00:00+00:00"
    consult = plan["appointments"][0]
    assert (datetime.fromisoformat(infusions[0]["start"]).astimezone(NY).date()
            - datetime.fromisoformat(consult["start"]).astimezone(NY).date()).days <= 30
    assert db_problems() == []


def test_idempotency_key_replays_the_first_answer(client, admin, api, practice, patient):
    body = {"patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
            "clinic_id": practice.clinic, "start_on": "2027-02-01"}
    headers = {**admin, "Idempotency-Key": "abc-123"}
    first = client.post("/api/v1/enrollments", json=body, headers=headers)
    second = client.post("/api/v1/enrollments", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    appts = api.get("/appointments?page_size=500")
    assert len(appts) == len(first.get_json()["appointments"])
    changed = client.post("/api/v1/enrollments", json={**body, "start_on": "2027-03-01"},
                          headers=headers)
    assert changed.status_code == 422
    assert "Idempotency-Key" in changed.get_json()["error"]["fields"]


@pytest.mark.parametrize("patch, field", [
    ({"patient_id": 999}, "patient_id"),
    ({"protocol_id": 999}, "protocol_id"),
    ({"clinic_id": 999}, "clinic_id"),
    ({"start_on": "someday"}, "start_on"),
    ({"availability": {"earliest": "15:00", "latest": "09:00"}}, "availability.latest"),
    ({"availability": {"weekdays": ["caturday"]}}, "availability.weekdays[0]"),
    ({"preferences": {"staff_id": 999}}, "preferences.staff_id"),
    ({"preferences": {"time": "25:00"}}, "preferences.time"),
    ({"priority": "high"}, "priority"),
])
def test_enrollment_validation(api, practice, patient, patch, field):
    body = {"patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
            "clinic_id": practice.clinic, "start_on": "2027-02-01", **patch}
    response = api.post("/enrollments", body, expect=422)
    assert field in response["error"]["fields"], response
    assert api.get("/appointments") == []


def test_enrollment_pins_its_protocol_version(api, practice, patient, enroll):
    plan = enroll(patient["id"])
    protocol_id = practice.protocols["iv-depression"]
    body = api.get(f"/protocols/{protocol_id}")
    for key in ("id", "version", "current_version", "versions", "session_kinds", "created_at"):
        body.pop(key)
    induction = next(p for p in body["phases"] if p["name"] == "induction")
    induction["gap_days"] = {"min": 2, "target": 3, "max": 4}
    api.put(f"/protocols/{protocol_id}", body)
    assert api.get(f"/enrollments/{plan['id']}")["protocol_version"] == 1
    assert [a["start"] for a in api.get(f"/enrollments/{plan['id']}")["appointments"]] == \
        [a["start"] for a in plan["appointments"]]
    other = api.post("/patients", {"name": "B", "clinic_id": practice.clinic})
    assert enroll(other["id"])["protocol_version"] == 2


def test_scoped_front_desk_sees_only_its_clinic(client, keys, api, practice, patient, enroll):
    plan = enroll(patient["id"])
    elsewhere = api.post("/clinics", {"name": "Elsewhere", "timezone": "America/Chicago"})
    outsider = Api(client, keys("front_desk", clinics=[elsewhere["id"]]))
    outsider.call("GET", f"/enrollments/{plan['id']}", expect=404)
    outsider.call("POST", f"/enrollments/{plan['id']}/confirm", expect=404)
    appt = plan["appointments"][0]["id"]
    outsider.call("GET", f"/appointments/{appt}", expect=404)
    outsider.call("POST", f"/appointments/{appt}/cancel", expect=404)
    assert outsider.get("/appointments") == []
    outsider.call("GET", f"/appointments?clinic_id={practice.clinic}", expect=404)
    response = outsider.post("/enrollments", {
        "patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
        "clinic_id": practice.clinic, "start_on": "2027-02-01"}, expect=422)
    assert "patient_id" in response["error"]["fields"]
    insider = Api(client, keys("front_desk", clinics=[practice.clinic]))
    assert len(insider.get("/appointments?page_size=500")) == len(plan["appointments"])
    Api(client, keys("viewer")).call("POST", f"/enrollments/{plan['id']}/confirm", expect=403)


def test_esketamine_needs_a_certified_clinic(api, practice, patient, enroll):
    api.patch(f"/clinics/{practice.clinic}", {"certifications": []})
    response = enroll(patient["id"], protocol="esketamine-label", expect=409)
    assert "esketamine_rems" in response["error"]["message"] or "certif" in \
        response["error"]["message"]
