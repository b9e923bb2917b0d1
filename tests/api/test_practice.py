"""Clinics, rooms, staff, patients through the HTTP API: happy paths and each validation rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import Api, clinic_body, patient_body, room_body, staff_body


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


def fields_of(response) -> dict:
    body = response.get_json()
    assert "error" in body, body
    return body["error"].get("fields", {})


# ---------------------------------------------------------------- clinics

def test_clinic_create_read_list_update(api):
    created = api.post("/clinics", clinic_body(name="Back Bay"))
    assert created["name"] == "Back Bay"
    assert created["hours"]["mon"] == [["08:00", "18:00"]]
    assert created["closures"] == ["2026-12-25"]
    assert api.get(f"/clinics/{created['id']}")["timezone"] == "America/New_York"
    updated = api.patch(f"/clinics/{created['id']}", {"name": "Back Bay East"})
    assert updated["name"] == "Back Bay East"
    assert updated["timezone"] == "America/New_York"  # untouched by the patch
    listed = api.get("/clinics")
    assert [c["name"] for c in listed] == ["Back Bay East"]


def test_clinic_list_is_paginated(api, client, admin):
    for _ in range(5):
        api.post("/clinics", clinic_body())
    response = client.get("/api/v1/clinics?page=2&page_size=2", headers=admin)
    assert response.status_code == 200
    assert len(response.get_json()) == 2
    meta = json.loads(response.headers["X-Pagination"])
    assert meta == {"total": 5, "total_pages": 3, "page": 2, "page_size": 2}


@pytest.mark.parametrize("patch, field", [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": 5}, "timezone"),
    ({"hours": {"mon": [["08:00", "08:00"]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [["20:00", "02:00"], ["21:00", "23:00"]]}}, "hours.mon[1]"),
    ({"hours": {"sun": [["22:00", "06:00"]], "mon": [["05:00", "09:00"]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}}, "hours.mon[1]"),
    ({"hours": {"mon": [["08:00", "17:00"], ["09:00", "10:00"], ["11:00", "12:00"]]}},
     "hours.mon[1]"),
    ({"hours": {"mon": [["8am", "12:00"]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [["08:00"]]}}, "hours.mon[0]"),
    ({"hours": {"funday": [["08:00", "12:00"]]}}, "hours.funday"),
    ({"hours": {"mon": "08:00-12:00"}}, "hours.mon"),
    ({"closures": ["2026-13-45"]}, "closures[0]"),
    ({"name": ""}, "name"),
    ({"certifications": [""]}, "certifications[0]"),
    ({"colour": "blue"}, "colour"),
])
def test_clinic_validation_names_the_field(api, patch, field):
    response = api.call("POST", "/clinics", clinic_body(**patch), expect=422)
    assert field in fields_of(response), fields_of(response)
    assert api.get("/clinics") == []  # nothing was written


def test_clinic_missing_required_fields(api):
    response = api.call("POST", "/clinics", {}, expect=422)
    assert {"name", "timezone"} <= set(fields_of(response))


def test_malformed_json_is_400(client, admin):
    response = client.post("/api/v1/clinics", data="{not json", headers={
        **admin, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_body_of_wrong_type_is_422(api):
    response = api.call("POST", "/clinics", ["a", "list"], expect=422)
    assert "body" in fields_of(response)


def test_unknown_query_parameter_is_422(api):
    response = api.call("GET", "/clinics?colour=blue", expect=422)
    assert "colour" in fields_of(response)


def test_out_of_range_page_size(api):
    response = api.call("GET", "/clinics?page_size=100000", expect=422)
    assert "page_size" in fields_of(response)


def test_missing_clinic_is_404(api):
    response = api.call("GET", "/clinics/999", expect=404)
    assert response.get_json()["error"]["code"] == "not_found"


def test_deleted_clinic_disappears(api):
    clinic = api.post("/clinics", clinic_body())
    room = api.post(f"/clinics/{clinic['id']}/rooms", room_body())
    api.delete(f"/clinics/{clinic['id']}")
    api.call("GET", f"/clinics/{clinic['id']}", expect=404)
    api.call("GET", f"/rooms/{room['id']}", expect=404)
    assert api.get("/clinics") == []


# ---------------------------------------------------------------- rooms

def test_room_crud(api):
    clinic = api.post("/clinics", clinic_body())
    room = api.post(f"/clinics/{clinic['id']}/rooms",
                    room_body(name="Bay", features=["iv_pump", "iv_pump"], capacity=3))
    assert room["features"] == ["iv_pump"]
    assert room["capacity"] == 3 and room["clinic_id"] == clinic["id"]
    assert api.patch(f"/rooms/{room['id']}", {"turnover_minutes": 20})["turnover_minutes"] == 20
    assert [r["id"] for r in api.get(f"/clinics/{clinic['id']}/rooms")] == [room["id"]]
    api.delete(f"/rooms/{room['id']}")
    api.call("GET", f"/rooms/{room['id']}", expect=404)


def test_room_defaults(api):
    clinic = api.post("/clinics", clinic_body())
    room = api.post(f"/clinics/{clinic['id']}/rooms", {"name": "Consult"})
    assert (room["capacity"], room["turnover_minutes"], room["features"]) == (1, 0, [])


@pytest.mark.parametrize("patch, field", [
    ({"capacity": 0}, "capacity"),
    ({"capacity": "two"}, "capacity"),
    ({"turnover_minutes": -5}, "turnover_minutes"),
    ({"features": "iv_pump"}, "features"),
])
def test_room_validation(api, patch, field):
    clinic = api.post("/clinics", clinic_body())
    response = api.call("POST", f"/clinics/{clinic['id']}/rooms", room_body(**patch), expect=422)
    assert field in fields_of(response)


def test_room_in_missing_clinic_is_404(api):
    api.call("POST", "/clinics/42/rooms", room_body(), expect=404)


# ---------------------------------------------------------------- staff

def test_staff_crud_with_shifts_and_time_off(api):
    clinic = api.post("/clinics", clinic_body())
    other = api.post("/clinics", clinic_body())
    body = staff_body(clinic["id"])
    body["shifts"].append({"clinic_id": other["id"], "weekday": "sat", "start": "09:00",
                           "end": "13:00"})
    member = api.post("/staff", body)
    assert member["max_concurrent_patients"] == 3
    assert len(member["shifts"]) == 6
    assert member["shifts"][0] == {"clinic_id": clinic["id"], "weekday": "mon",
                                   "start": "08:00", "end": "16:00"}
    off = api.post(f"/staff/{member['id']}/time-off", {
        "start": "2026-12-01T00:00:00-05:00", "end": "2026-12-03T00:00:00-05:00",
        "reason": "leave"})
    assert off["reason"] == "leave"
    assert off["start"].startswith("2026-12-01T05:00:00")
    fetched = api.get(f"/staff/{member['id']}")
    assert len(fetched["time_off"]) == 1
    patched = api.patch(f"/staff/{member['id']}", {"shifts": [
        {"clinic_id": clinic["id"], "weekday": "tue", "start": "10:00", "end": "14:00"}]})
    assert patched["shifts"] == [{"clinic_id": clinic["id"], "weekday": "tue",
                                  "start": "10:00", "end": "14:00"}]
    assert [m["id"] for m in api.get(f"/staff?clinic_id={clinic['id']}")] == [member["id"]]
    assert api.get(f"/staff?clinic_id={other['id']}") == []
    assert [m["id"] for m in api.get("/staff?role=nurse")] == [member["id"]]
    assert api.get("/staff?role=prescriber") == []
    api.delete(f"/staff/{member['id']}")
    api.call("GET", f"/staff/{member['id']}", expect=404)


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b.update(roles=[]), "roles"),
    (lambda b: b.update(max_concurrent_patients=0), "max_concurrent_patients"),
    (lambda b: b["shifts"][0].update(weekday="someday"), "shifts[0].weekday"),
    (lambda b: b["shifts"][0].update(start="16:00"), "shifts[0].end"),
    (lambda b: b["shifts"][0].update(start="20:00", end="09:00"), "shifts[1]"),
    (lambda b: b["shifts"][0].update(start="25:00"), "shifts[0].start"),
    (lambda b: b["shifts"][0].update(clinic_id=999), "shifts[0].clinic_id"),
    (lambda b: b["shifts"].append(dict(b["shifts"][0], start="15:00", end="18:00")),
     "shifts[5]"),
    (lambda b: b["shifts"][0].update(clinic_id="1"), "shifts[0].clinic_id"),
])
def test_staff_validation(api, mutate, field):
    clinic = api.post("/clinics", clinic_body())
    body = staff_body(clinic["id"])
    mutate(body)
    response = api.call("POST", "/staff", body, expect=422)
    assert field in fields_of(response), fields_of(response)
    assert api.get("/staff") == []


@pytest.mark.parametrize("body, field", [
    ({"start": "2026-12-03T00:00:00-05:00", "end": "2026-12-01T00:00:00-05:00"}, "end"),
    ({"start": "2026-12-01T00:00:00", "end": "2026-12-03T00:00:00-05:00"}, "start"),
    ({"start": "yesterday", "end": "2026-12-03T00:00:00-05:00"}, "start"),
    ({"end": "2026-12-03T00:00:00-05:00"}, "start"),
])
def test_time_off_validation(api, body, field):
    clinic = api.post("/clinics", clinic_body())
    member = api.post("/staff", staff_body(clinic["id"]))
    response = api.call("POST", f"/staff/{member['id']}/time-off", body, expect=422)
    assert field in fields_of(response)
    assert api.get(f"/staff/{member['id']}")["time_off"] == []


# ---------------------------------------------------------------- patients

def test_patient_crud(api):
    clinic = api.post("/clinics", clinic_body())
    patient = api.post("/patients", patient_body(
        clinic["id"], name="Ada", preferences={"weekdays": ["mon", "wed"], "time": "10:00"}))
    assert patient["preferences"] == {"weekdays": ["mon", "wed"], "time": "10:00"}
    assert api.get(f"/patients/{patient['id']}")["name"] == "Ada"
    assert api.patch(f"/patients/{patient['id']}", {"phone": "555-0100"})["phone"] == "555-0100"
    found = api.get(f"/patients?external_id={patient['external_id']}")
    assert [p["id"] for p in found] == [patient["id"]]


@pytest.mark.parametrize("patch, field", [
    ({"clinic_id": 999}, "clinic_id"),
    ({"email": "not-an-email"}, "email"),
    ({"preferences": {"time": "noonish"}}, "preferences.time"),
    ({"preferences": {"weekdays": ["caturday"]}}, "preferences.weekdays[0]"),
    ({"preferences": {"staff_id": 999}}, "preferences.staff_id"),
    ({"name": None}, "name"),
])
def test_patient_validation(api, patch, field):
    clinic = api.post("/clinics", clinic_body())
    response = api.call("POST", "/patients", {**patient_body(clinic["id"]), **patch}, expect=422)
    assert field in fields_of(response), fields_of(response)
    assert api.get("/patients") == []


def test_duplicate_external_id_in_clinic_is_409(api):
    clinic = api.post("/clinics", clinic_body())
    api.post("/patients", patient_body(clinic["id"], external_id="MRN-1"))
    api.call("POST", "/patients", patient_body(clinic["id"], external_id="MRN-1"), expect=409)
    assert len(api.get("/patients")) == 1


# ---------------------------------------------------------------- deletion with bookings

@pytest.fixture
def booked(app, api):
    """A clinic whose room and nurse hold one future booked appointment."""
    from scheduler.extensions import db
    from scheduler.models import Allocation, Appointment

    clinic = api.post("/clinics", clinic_body())
    room = api.post(f"/clinics/{clinic['id']}/rooms", room_body())
    nurse = api.post("/staff", staff_body(clinic["id"]))
    idle = api.post("/staff", staff_body(clinic["id"]))
    patient = api.post("/patients", patient_body(clinic["id"]))
    start = datetime.now(UTC) + timedelta(days=3)
    end = start + timedelta(hours=1)
    with app.app_context():
        appt = Appointment(patient_id=patient["id"], clinic_id=clinic["id"],
                           session_kind="iv_infusion", starts_at=start, ends_at=end,
                           status="booked")
        appt.allocations = [
            Allocation(resource_type="room", resource_id=room["id"], unit=0,
                       starts_at=start, ends_at=end),
            Allocation(resource_type="staff", resource_id=nurse["id"], unit=2,
                       starts_at=start, ends_at=end),
        ]
        db.session.add(appt)
        db.session.commit()
        appt_id = appt.id
    return {"clinic": clinic, "room": room, "nurse": nurse, "idle": idle, "appt": appt_id,
            "start": start}


@pytest.mark.parametrize("path", ["/clinics/{clinic}", "/rooms/{room}", "/staff/{nurse}"])
def test_delete_with_future_booking_is_refused(api, booked, path):
    url = path.format(clinic=booked["clinic"]["id"], room=booked["room"]["id"],
                      nurse=booked["nurse"]["id"])
    response = api.delete(url, expect=409)
    error = response.get_json()["error"]
    assert "future appointments" in error["message"]
    assert error["details"]["appointment_ids"] == [booked["appt"]]
    api.get(url)  # still there


def test_delete_staff_without_bookings_succeeds(api, booked):
    api.delete(f"/staff/{booked['idle']['id']}")


def test_time_off_over_booked_appointment_is_refused(api, booked):
    start = booked["start"] - timedelta(hours=1)
    response = api.post(f"/staff/{booked['nurse']['id']}/time-off", {
        "start": start.isoformat(), "end": (start + timedelta(hours=3)).isoformat()},
        expect=409)
    assert response["error"]["details"]["appointment_ids"] == [booked["appt"]]


def test_lowering_capacity_below_a_used_unit_is_refused(api, booked):
    api.patch(f"/staff/{booked['nurse']['id']}", {"max_concurrent_patients": 2}, expect=409)
    assert api.patch(f"/staff/{booked['nurse']['id']}", {"max_concurrent_patients": 4})[
        "max_concurrent_patients"] == 4
