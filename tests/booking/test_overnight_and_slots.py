"""Through the API: a clinic's slot grid (slot_minutes) and hours and shifts across midnight."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.support.factories import clinic_body, staff_body

NY = ZoneInfo("America/New_York")
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def fields_of(response) -> dict:
    return response.get_json()["error"].get("fields", {})


def test_slot_minutes_defaults_to_15_and_is_set_and_patched(api):
    clinic = api.post("/clinics", clinic_body())
    assert clinic["slot_minutes"] == 15
    ten = api.post("/clinics", clinic_body(slot_minutes=10))
    assert ten["slot_minutes"] == 10
    assert api.patch(f"/clinics/{ten['id']}", {"slot_minutes": 30})["slot_minutes"] == 30
    assert api.get(f"/clinics/{ten['id']}")["slot_minutes"] == 30


@pytest.mark.parametrize("value", [4, 61, 0, "15", 12.5, None])
def test_slot_minutes_out_of_range_or_not_an_integer_is_422(api, value):
    response = api.call("POST", "/clinics", clinic_body(slot_minutes=value), expect=422)
    assert "slot_minutes" in fields_of(response)
    assert api.get("/clinics") == []
    clinic = api.post("/clinics", clinic_body())
    response = api.call("PATCH", f"/clinics/{clinic['id']}", {"slot_minutes": value},
                        expect=422)
    assert "slot_minutes" in fields_of(response)
    assert api.get(f"/clinics/{clinic['id']}")["slot_minutes"] == 15


def test_hours_and_shifts_may_cross_midnight(api):
    clinic = api.post("/clinics", clinic_body(hours={"fri": [["22:00", "06:00"]],
                                                     "sat": [["08:00", "12:00"]]}))
    assert clinic["hours"] == {"fri": [["22:00", "06:00"]], "sat": [["08:00", "12:00"]]}
    member = api.post("/staff", staff_body(clinic["id"], shifts=[
        {"clinic_id": clinic["id"], "weekday": "fri", "start": "22:00", "end": "06:00"},
        {"clinic_id": clinic["id"], "weekday": "sat", "start": "08:00", "end": "12:00"}]))
    assert member["shifts"][0] == {"clinic_id": clinic["id"], "weekday": "fri",
                                   "start": "22:00", "end": "06:00"}
    # Friday night's shift runs into Saturday morning: a Saturday shift from 05:00 overlaps.
    response = api.call("POST", "/staff", staff_body(clinic["id"], shifts=[
        {"clinic_id": clinic["id"], "weekday": "fri", "start": "22:00", "end": "06:00"},
        {"clinic_id": clinic["id"], "weekday": "sat", "start": "05:00", "end": "12:00"}]),
        expect=422)
    assert "shifts[1]" in fields_of(response)
    # Sunday night runs into Monday.
    response = api.call("POST", "/staff", staff_body(clinic["id"], shifts=[
        {"clinic_id": clinic["id"], "weekday": "sun", "start": "23:00", "end": "07:00"},
        {"clinic_id": clinic["id"], "weekday": "mon", "start": "06:00", "end": "09:00"}]),
        expect=422)
    assert {"shifts[0]", "shifts[1]"} & set(fields_of(response))


def _night_practice(api):
    clinic = api.post("/clinics", clinic_body(hours={d: [["20:00", "04:00"]] for d in EVERY_DAY},
                                              closures=[]))
    cid = clinic["id"]
    api.post(f"/clinics/{cid}/rooms", {"name": "Night chair", "features": ["iv_pump"],
                                       "capacity": 1, "turnover_minutes": 10})
    nurse = api.post("/staff", {"name": "Night RN", "roles": ["nurse"], "shifts": [
        {"clinic_id": cid, "weekday": d, "start": "20:00", "end": "04:00"} for d in EVERY_DAY]})
    api.post("/session-kinds", {
        "code": "night_infusion", "name": "Night infusion", "route": "iv",
        "segments": [{"name": "setup", "minutes": 15},
                     {"name": "dosing", "minutes": 120, "dose": True},
                     {"name": "recovery", "minutes": 45}],
        "room_features": ["iv_pump"],
        "staff": [{"role": "nurse", "load": {"setup": "exclusive", "dosing": "shared",
                                             "recovery": "shared"}}]})
    protocol = api.post("/protocols", {
        "code": "night-series", "name": "Night series", "min_hours_between_doses": 48,
        "phases": [{"name": "series", "session_kind": "night_infusion", "count": 2,
                    "gap_days": {"min": 2, "target": 2, "max": 4}}]})
    patient = api.post("/patients", {"name": "Night owl", "clinic_id": cid})
    return cid, nurse["id"], protocol["id"], patient["id"]


def test_a_plan_is_placed_across_midnight_and_booked(api, db_problems):
    cid, nurse, protocol, patient = _night_practice(api)
    plan = api.post("/enrollments", {"patient_id": patient, "protocol_id": protocol,
                                     "clinic_id": cid, "start_on": "2027-02-01",
                                     "availability": {"earliest": "23:00"}})
    for appt in plan["appointments"]:
        start = datetime.fromisoformat(appt["start"]).astimezone(NY)
        end = datetime.fromisoformat(appt["end"]).astimezone(NY)
        assert start.strftime("%H:%M") == "23:00" and end.strftime("%H:%M") == "02:00"
        assert end.date() > start.date()
    confirmed = api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    assert {a["status"] for a in confirmed["appointments"]} == {"booked"}
    assert db_problems() == []
    # The configuration checks understand the night too: narrowing the hours to end at
    # midnight would strand the booked sessions, keeping them overnight does not.
    api.call("PATCH", f"/clinics/{cid}", {"hours": {d: [["20:00", "00:00"]]
                                                     for d in EVERY_DAY}}, expect=409)
    api.patch(f"/clinics/{cid}", {"hours": {d: [["19:00", "05:00"]] for d in EVERY_DAY}})
    api.call("PATCH", f"/staff/{nurse}", {"shifts": [
        {"clinic_id": cid, "weekday": d, "start": "20:00", "end": "01:00"}
        for d in EVERY_DAY]}, expect=409)
    api.patch(f"/staff/{nurse}", {"shifts": [
        {"clinic_id": cid, "weekday": d, "start": "22:00", "end": "03:00"}
        for d in EVERY_DAY]})
