"""One rule for who sees a patient, everywhere; shift overlaps compared as instants, and never a
hint of another clinic's shifts."""

from __future__ import annotations

from tests.support.factories import Api, clinic_body, staff_body
from tests.support.practice import build_practice


def test_a_clinic_that_treats_a_patient_sees_them_everywhere(client, keys, admin_api):
    treating = build_practice(admin_api)
    home = admin_api.post("/clinics", clinic_body(name="Home"))["id"]
    never = admin_api.post("/clinics", clinic_body(name="Elsewhere"))["id"]
    patient = admin_api.post("/patients", {"name": "Grace Hopper", "clinic_id": home})["id"]
    admin_api.post("/enrollments", {
        "patient_id": patient, "protocol_id": treating.protocols["iv-depression"],
        "clinic_id": treating.clinic, "start_on": "2027-02-01"})

    desk = Api(client, keys("front_desk", clinics=[treating.clinic]))
    feed = desk.post("/feeds", {"scope": "clinic", "scope_id": treating.clinic,
                                "privacy": "details"})
    ics = client.get(feed["url"].split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert "Grace Hopper" in ics.get_data(as_text=True)
    # The same key reads the patient its calendar names, and finds them in lists.
    assert desk.get(f"/patients/{patient}")["name"] == "Grace Hopper"
    assert patient in [p["id"] for p in desk.get("/patients")]
    assert desk.get(f"/appointments?patient_id={patient}")
    # A clinic that never had the patient sees nothing of them.
    stranger = Api(client, keys("front_desk", clinics=[never]))
    stranger.get(f"/patients/{patient}", expect=404)
    assert patient not in [p["id"] for p in stranger.get("/patients")]
    assert stranger.post("/feeds", {"scope": "patient", "scope_id": patient},
                         expect=422)["error"]["fields"] == {"scope_id": [
                             f"patient {patient} does not exist"]}
    # Seeing a patient is not owning them: their home clinic moves only with a key that sees it.
    desk.patch(f"/patients/{patient}", {"phone": "555-0100"})
    desk.call("PATCH", f"/patients/{patient}", {"clinic_id": treating.clinic}, expect=403)


def test_shift_overlap_with_a_hidden_shift_says_nothing_about_it(client, keys, admin_api):
    east = admin_api.post("/clinics", clinic_body(timezone="America/New_York"))["id"]
    west = admin_api.post("/clinics", clinic_body(timezone="America/Los_Angeles"))["id"]
    # 08:00-12:00 in Los Angeles is 11:00-15:00 in New York.
    person = admin_api.post("/staff", staff_body(west, shifts=[
        {"clinic_id": west, "weekday": "mon", "start": "08:00", "end": "12:00"}]))["id"]
    admin_api.patch(f"/staff/{person}", {"shifts": [
        {"clinic_id": west, "weekday": "mon", "start": "08:00", "end": "12:00"},
        {"clinic_id": east, "weekday": "tue", "start": "08:00", "end": "09:00"}]})
    scoped = Api(client, keys("manager", clinics=[east]))
    # Same digits, different instants: no overlap.
    scoped.patch(f"/staff/{person}", {"shifts": [
        {"clinic_id": east, "weekday": "mon", "start": "08:00", "end": "10:00"}]})
    response = scoped.call("PATCH", f"/staff/{person}", {"shifts": [
        {"clinic_id": east, "weekday": "mon", "start": "08:00", "end": "10:00"},
        {"clinic_id": east, "weekday": "mon", "start": "12:00", "end": "14:00"}]}, expect=422)
    error = response.get_json()["error"]
    assert error["fields"] == {"shifts[1]": ["overlaps a shift this person works at another "
                                             "clinic"]}
    assert "08:00" not in error["message"] and "12:00" not in error["message"]


def test_shift_overlap_across_a_weekday_boundary(admin_api):
    tokyo = admin_api.post("/clinics", clinic_body(timezone="Asia/Tokyo"))["id"]
    york = admin_api.post("/clinics", clinic_body(timezone="America/New_York"))["id"]
    # Tuesday 09:00 in Tokyo is Monday 19:00 (winter) or 20:00 (summer) in New York.
    response = admin_api.call("POST", "/staff", staff_body(york, shifts=[
        {"clinic_id": york, "weekday": "mon", "start": "18:00", "end": "21:00"},
        {"clinic_id": tokyo, "weekday": "tue", "start": "09:00", "end": "12:00"}]), expect=422)
    assert response.get_json()["error"]["fields"] == {"shifts[1]": ["overlaps shift 0"]}
    admin_api.post("/staff", staff_body(york, shifts=[
        {"clinic_id": york, "weekday": "mon", "start": "08:00", "end": "12:00"},
        {"clinic_id": tokyo, "weekday": "tue", "start": "09:00", "end": "12:00"}]))
