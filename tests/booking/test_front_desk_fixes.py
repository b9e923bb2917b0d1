"""What a new user ran into at the front desk (issue 15): each fixed at its root."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

NY = ZoneInfo("America/New_York")


@pytest.fixture
def booked(api, patient, enroll):
    plan = enroll(patient["id"])
    return api.post(f"/enrollments/{plan['id']}/confirm", expect=200)


# ---------------------------------------------------------------- check-in window

@pytest.mark.parametrize(("minutes_before", "expect"), [(121, 409), (120, 200), (5, 200)])
def test_check_in_opens_two_hours_before_the_start(api, booked, minutes_before, expect):
    appt = booked["appointments"][1]
    starts = datetime.fromisoformat(appt["start"])
    with time_machine.travel(starts - timedelta(minutes=minutes_before), tick=False):
        response = api.post(f"/appointments/{appt['id']}/check-in", expect=expect)
    if expect == 409:
        details = response["error"]["details"]
        assert details["reason"] == "check_in_too_early"
        assert datetime.fromisoformat(details["opens_at"]) == starts - timedelta(minutes=120)
        assert api.get(f"/appointments/{appt['id']}")["status"] == "booked"
    else:
        assert response["status"] == "checked_in"


def test_check_in_months_ahead_is_refused(api, booked):
    appt = booked["appointments"][-1]
    api.post(f"/appointments/{appt['id']}/check-in", expect=409)


def test_check_in_window_is_configuration(app, api, booked):
    appt = booked["appointments"][1]
    starts = datetime.fromisoformat(appt["start"])
    app.config["CHECKIN_EARLY_MINUTES"] = 300
    try:
        with time_machine.travel(starts - timedelta(minutes=299), tick=False):
            api.post(f"/appointments/{appt['id']}/check-in", expect=200)
    finally:
        app.config["CHECKIN_EARLY_MINUTES"] = 120


# ---------------------------------------------------------------- one numbering

def _day(appt):
    return datetime.fromisoformat(appt["start"]).date()


def test_cancel_warnings_and_impact_number_sessions_as_their_keys(api, practice, booked):
    by_key = {a["key"]: a for a in booked["appointments"]}
    # Cancel the induction whose neighbours lie furthest apart, then propose a gap_days.max
    # that this widened gap breaks: the report must name the neighbours by their keys.
    span = {n: (_day(by_key[f"induction#{n + 1}"]) - _day(by_key[f"induction#{n - 1}"])).days
            for n in range(2, 6)}
    n = max(span, key=span.get)
    cancelled = api.post(f"/appointments/{by_key[f'induction#{n}']['id']}/cancel", expect=200)
    assert cancelled["plan_warnings"], cancelled
    protocol_id = practice.protocols["iv-depression"]
    proposal = api.get(f"/protocols/{protocol_id}")
    for key in ("id", "version", "current_version", "versions", "session_kinds", "created_at"):
        proposal.pop(key)
    induction = next(p for p in proposal["phases"] if p["name"] == "induction")
    induction["gap_days"] = {"min": 1, "target": 1, "max": span[n] - 1}
    report = api.post(f"/protocols/{protocol_id}/impact", proposal, expect=200)
    [affected] = report["affected"]
    gaps = [v for v in affected["violations"] if v["rule"] == "gap_days.max"]
    for gap in gaps:
        first, second = (k for k, a in by_key.items() if a["id"] in gap["appointment_ids"])
        assert gap["message"].startswith(
            f"{first.replace('#', ' #')} → {second.replace('#', ' #')}:"), gap
    assert any(g["message"].startswith(f"induction #{n - 1} → induction #{n + 1}")
               for g in gaps), gaps


# ---------------------------------------------------------------- patient's home clinic

def test_a_key_of_one_clinic_may_leave_out_the_patients_clinic(client, keys, practice):
    desk = keys("front_desk", clinics=[practice.clinic])
    response = client.post("/api/v1/patients", json={"name": "Grace H."}, headers=desk)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["clinic_id"] == practice.clinic


def test_a_key_of_several_clinics_must_name_it(client, keys, api, practice):
    other = api.post("/clinics", {"name": "Other", "timezone": "UTC", "hours": {}})
    for headers in (keys("front_desk", clinics=[practice.clinic, other["id"]]), keys("admin")):
        response = client.post("/api/v1/patients", json={"name": "Grace H."}, headers=headers)
        assert response.status_code == 422, response.get_json()
        assert "clinic_id" in json.dumps(response.get_json()["error"])


# ---------------------------------------------------------------- SPEC 4: how times read

def _offset(text):
    return datetime.fromisoformat(text).utcoffset()


def test_times_carry_the_clinics_offset_and_allocations_their_names(api, practice, booked):
    names = {r["id"]: r["name"] for r in api.get(f"/clinics/{practice.clinic}/rooms")}
    names_staff = {s["id"]: s["name"] for s in api.get("/staff")}
    for appt in booked["appointments"]:
        start = datetime.fromisoformat(appt["start"])
        assert start.utcoffset() == start.astimezone(NY).utcoffset()
        assert _offset(appt["end"]) == datetime.fromisoformat(appt["end"]).astimezone(
            NY).utcoffset()
        for a in appt["allocations"]:
            assert _offset(a["start"]) == datetime.fromisoformat(a["start"]).astimezone(
                NY).utcoffset()
            expected = (names if a["resource_type"] == "room" else names_staff)[a["resource_id"]]
            assert a["name"] == expected
    # Winter in New York: -05:00 (the plan starts 2027-02-01).
    assert booked["appointments"][0]["start"].endswith("-05:00")


def test_one_allocation_entry_per_resource_and_span(api, practice, booked):
    for appt in booked["appointments"]:
        spans = [(a["resource_type"], a["resource_id"], a["start"], a["end"])
                 for a in appt["allocations"]]
        assert len(spans) == len(set(spans)), appt["allocations"]
        assert {a["resource_type"] for a in appt["allocations"]} <= {"room", "staff"}


def test_a_nurse_held_one_to_one_then_shared_is_one_stretch(api, patient, enroll):
    plan = enroll(patient["id"])
    infusion = next(a for a in plan["appointments"] if a["session_kind"] == "iv_infusion")
    staff = [a for a in infusion["allocations"] if a["resource_type"] == "staff"]
    # Exclusive through setup (every unit), then one place: one entry, setup to recovery end.
    [nurse] = staff
    assert nurse["start"] == infusion["start"]
    resources = {(a["resource_type"], a["resource_id"]) for a in infusion["allocations"]}
    assert len(resources) == len(infusion["allocations"])
    # 8.8 KB for a 10-appointment plan was the complaint; one entry per resource and span.
    assert len(json.dumps(plan)) < 7500, len(json.dumps(plan))


def test_availability_slots_carry_the_clinics_offset(api, practice):
    slots = api.get(f"/availability?clinic_id={practice.clinic}&session_kind=iv_infusion"
                    "&start=2027-07-05&end=2027-07-06")["slots"]
    assert slots and all(s["start"].endswith("-04:00") for s in slots)


# ---------------------------------------------------------------- 409s in a front desk's words

def test_no_plan_fits_leads_with_the_cause_at_the_named_clinic(api, practice, patient):
    six_days = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
    api.call("PATCH", f"/clinics/{practice.clinic}", {"hours": six_days}, expect=200)
    single = api.post("/protocols", {"code": "one-infusion", "name": "One infusion", "phases": [
        {"name": "infusion", "session_kind": "iv_infusion", "count": 1}]})
    error = api.post("/enrollments", {
        "patient_id": patient["id"], "protocol_id": single["id"], "clinic_id": practice.clinic,
        "start_on": "2027-02-01", "availability": {"weekdays": ["sat"]}}, expect=409)["error"]
    message = error["message"]
    assert message.startswith("No "), message
    assert "No nurse is on shift at Test clinic on Saturdays." in message
    assert "no plan fits" not in message.lower() and "plan:" not in message
    details = error["details"]
    assert details["reason"] == "no_plan_fits" and details["message"] == message
    pairs = [(b["code"], b["detail"]) for b in details["blocking"]]
    assert len(pairs) == len(set(pairs))
    assert details["window"]["start"].endswith("-05:00")
