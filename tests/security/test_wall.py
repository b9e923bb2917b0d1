"""The tenant wall: nothing of another clinic is changed, named or probed by a scoped key."""

from __future__ import annotations

from tests.support.factories import Api
from tests.support.practice import build_practice


def test_scoped_manager_cannot_delete_a_person_who_also_works_elsewhere(
        client, keys, admin_api, world, shared_staff):
    scoped = Api(client, keys("manager", clinics=[world["a"]["clinic"]]))
    response = scoped.call("DELETE", f"/staff/{shared_staff}", expect=403)
    assert response.get_json()["error"]["code"] == "forbidden"
    assert admin_api.get(f"/staff/{shared_staff}")["id"] == shared_staff
    scoped.delete(f"/staff/{world['a']['staff']}")  # works only at a: theirs to delete


def test_scoped_manager_cannot_probe_another_clinic_with_time_off(
        client, keys, admin_api, world, shared_staff):
    scoped = Api(client, keys("manager", clinics=[world["a"]["clinic"]]))
    body = {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}
    scoped.call("POST", f"/staff/{shared_staff}/time-off", body, expect=403)
    assert admin_api.get(f"/staff/{shared_staff}")["time_off"] == []
    scoped.post(f"/staff/{world['a']['staff']}/time-off", body)


def test_clinic_scoped_admin_cannot_read_practice_wide_jobs(client, keys, world):
    Api(client, keys("admin")).get("/jobs")
    scoped = Api(client, keys("admin", clinics=[world["a"]["clinic"]]))
    assert scoped.call("GET", "/jobs", expect=403).get_json()["error"]["code"] == "forbidden"


def test_dose_plan_refusal_does_not_name_another_clinics_enrollment(client, keys, admin_api):
    home = build_practice(admin_api)
    other = build_practice(admin_api, templates=())
    patient = admin_api.post("/patients", {"name": "Ada", "clinic_id": home.clinic})["id"]
    week = {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "earliest": "09:00",
            "latest": "17:00"}
    elsewhere = admin_api.post("/enrollments", {
        "patient_id": patient, "protocol_id": home.protocols["iv-depression"],
        "clinic_id": other.clinic, "start_on": "2027-02-01", "availability": week})
    scoped = Api(client, keys("front_desk", clinics=[home.clinic]))
    refusal = scoped.post("/enrollments", {
        "patient_id": patient, "protocol_id": home.protocols["iv-depression"],
        "clinic_id": home.clinic, "start_on": "2027-02-01", "availability": week},
        expect=409)["error"]
    assert refusal["details"] == {"reason": "dose_plan_exists"}
    assert str(elsewhere["id"]) not in refusal["message"]
    # An unscoped key may know which plan it is.
    assert admin_api.post("/enrollments", {
        "patient_id": patient, "protocol_id": home.protocols["iv-depression"],
        "clinic_id": home.clinic, "start_on": "2027-02-01", "availability": week},
        expect=409)["error"]["details"]["enrollment_id"] == elsewhere["id"]


def test_protocol_version_zero_does_not_exist(admin_api):
    protocol = admin_api.post("/protocol-templates/kap/instantiate", {})
    assert admin_api.get(f"/protocols/{protocol['id']}/versions/1")["version"] == 1
    admin_api.get(f"/protocols/{protocol['id']}/versions/0", expect=404)
