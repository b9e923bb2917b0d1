"""Every endpoint the OpenAPI document lists: 401, then 403, then 404, then the body; and no
body, however hostile, draws a 500."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.practice import build_practice

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
MALFORMED = "{not json"
NESTED = "[" * 1000 + "]" * 1000
HOSTILE_BODIES = {
    "nested 1000 deep": (NESTED, None),
    "nested object": ('{"a":' * 1000 + "1" + "}" * 1000, None),
    "lone surrogate": ('{"name": "\\ud800"}', "name"),
    "lone surrogate in a list": ('{"features": ["ok", "\\udfff"]}', "features[1]"),
    "lone surrogate in a key": ('{"\\ud800": 1}', "?"),
    "NUL": ('{"name": "Ada\\u0000"}', "name"),
    "huge integer": ('{"capacity": 1' + "0" * 5000 + "}", None),
}


def operations(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, item in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue  # the iCal feed: no key, no body
        for method, operation in item.items():
            if method.upper() in WRITES | {"GET"}:
                yield method.upper(), path[len("/api/v1"):], operation


def fill(path: str, ids: dict, missing: bool = False) -> str:
    def value(match):
        name = match.group(1)
        if missing:
            return "nope" if name == "code" else "999999"
        return str(ids.get(name, 999999))
    return re.sub(r"{(\w+)}", value, path)


@pytest.fixture
def ids(admin_api, world):
    practice = build_practice(admin_api, templates=("iv-depression",))
    patient = admin_api.post("/patients", {"name": "Ada", "clinic_id": practice.clinic})["id"]
    enrollment = admin_api.post("/enrollments", {
        "patient_id": patient, "protocol_id": practice.protocols["iv-depression"],
        "clinic_id": practice.clinic, "start_on": "2027-02-01"})
    feed = admin_api.post("/feeds", {"scope": "clinic", "scope_id": practice.clinic})
    return {"clinic_id": practice.clinic, "room_id": practice.rooms[0],
            "staff_id": practice.nurses[0], "patient_id": patient,
            "enrollment_id": enrollment["id"], "appointment_id":
                enrollment["appointments"][0]["id"],
            "protocol_id": practice.protocols["iv-depression"], "version": 1,
            "code": "iv_infusion", "feed_id": feed["id"]}


def send(client, method, path, data, headers, content_type="application/json"):
    return client.open(f"/api/v1{path}", method=method, data=data,
                       headers={**headers, "Content-Type": content_type})


def test_the_matrix_covers_every_write(client):
    writes = [(m, p) for m, p, _ in operations(client) if m in WRITES]
    assert len(writes) >= 25
    assert ("POST", "/appointments/{appointment_id}/reschedule") in writes


def test_no_key_is_401_whatever_the_body(client, ids):
    for method, path, _ in operations(client):
        response = send(client, method, fill(path, ids), MALFORMED, {})
        assert response.status_code == 401, (method, path, response.status_code)


def test_a_viewer_is_refused_before_its_body_is_read(client, keys, ids):
    viewer = keys("viewer")
    for method, path, _ in operations(client):
        if method not in WRITES:
            continue
        for body in (MALFORMED, '{"bogus": 1}', NESTED):
            response = send(client, method, fill(path, ids), body, viewer)
            assert response.status_code == 403, (method, path, body[:10],
                                                  response.status_code)
            assert response.get_json()["error"]["code"] == "forbidden"


def test_practice_wide_writes_refuse_a_scoped_manager_before_the_body(client, keys, ids):
    manager = keys("manager", clinics=[ids["clinic_id"]])
    for method, path in (("POST", "/clinics"), ("POST", "/session-kinds"),
                         ("POST", "/protocols"), ("PUT", "/protocols/{protocol_id}"),
                         ("PUT", "/session-kinds/{code}"),
                         ("POST", "/protocol-templates/{code}/instantiate")):
        response = send(client, method, fill(path, {**ids, "code": "kap"}), MALFORMED, manager)
        assert response.status_code == 403, (method, path, response.status_code)


def test_a_missing_path_thing_is_404_whatever_the_body(client, admin, ids):
    checked = 0
    for method, path, _ in operations(client):
        if method not in WRITES or "{" not in path:
            continue
        response = send(client, method, fill(path, ids, missing=True), MALFORMED, admin)
        assert response.status_code == 404, (method, path, response.status_code)
        checked += 1
    assert checked >= 15


def test_another_clinics_thing_is_404_whatever_the_body(client, keys, world):
    scoped = keys("manager", clinics=[world["a"]["clinic"]])
    b = world["b"]
    for method, path in (("PATCH", f"/rooms/{b['room']}"), ("PATCH", f"/staff/{b['staff']}"),
                         ("POST", f"/staff/{b['staff']}/time-off"),
                         ("PATCH", f"/patients/{b['patient']}"),
                         ("POST", f"/clinics/{b['clinic']}/rooms")):
        response = send(client, method, path, MALFORMED, scoped)
        assert response.status_code == 404, (method, path, response.status_code)


@pytest.mark.parametrize("label", sorted(HOSTILE_BODIES))
def test_hostile_bodies_are_a_4xx_on_every_endpoint(client, admin, ids, label):
    data, field = HOSTILE_BODIES[label]
    for method, path, _ in operations(client):
        if method not in WRITES:
            continue
        response = send(client, method, fill(path, ids), data, admin)
        assert 400 <= response.status_code < 500, (label, method, path, response.status_code)
        error = response.get_json()["error"]
        if field is not None and response.status_code == 422:
            assert field in error["fields"], (label, method, path, error)


def test_a_surrogate_in_a_list_is_not_stored(admin_api, client, admin, ids):
    response = send(client, "PATCH", f"/rooms/{ids['room_id']}",
                    '{"features": ["iv_pump", "\\ud800"]}', admin)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "features[1]": [response.get_json()["error"]["fields"]["features[1]"][0]]}
    assert "\ud800" not in admin_api.get(f"/rooms/{ids['room_id']}")["features"]


def test_body_less_actions_refuse_a_body(client, admin, ids):
    path = f"/api/v1/enrollments/{ids['enrollment_id']}/confirm"
    response = client.post(path, json={"force": True}, headers=admin)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"force": ["Unknown field."]}
    response = client.post(path, data=MALFORMED, headers={**admin,
                                                          "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"
    assert client.post(path, json=[1], headers=admin).status_code == 422
    assert client.post(path, json={}, headers=admin).status_code == 200
    assert client.post(path, headers=admin).status_code == 200


def test_json_without_content_type_is_read_as_json(client, admin, world):
    body = json.dumps({"name": "Ada", "clinic_id": world["a"]["clinic"]})
    response = client.post("/api/v1/patients", data=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == "Ada"
    response = client.post("/api/v1/patients", data=body, headers={
        **admin, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    # The raw-JSON endpoints read bodies the same way.
    response = client.post("/api/v1/session-kinds", data="{}", headers={
        **admin, "Content-Type": "text/plain"})
    assert response.status_code == 415


def test_bodies_over_the_limit_are_413_in_the_json_shape(app, client, viewer_and_admin):
    viewer, admin = viewer_and_admin
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = json.dumps({"name": "x" * limit})
    response = client.post("/api/v1/clinics", data=big, headers={
        **admin, "Content-Type": "application/json"})
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "payload_too_large" and "KB" in error["message"]
    assert len(response.data) < 1000
    # A viewer never gets as far as the body.
    response = client.post("/api/v1/clinics", data=big, headers={
        **viewer, "Content-Type": "application/json"})
    assert response.status_code == 403


def test_error_bodies_stay_small(client, admin, world):
    many = {f"unknown_field_{i}": i for i in range(5000)}
    response = client.post(f"/api/v1/clinics/{world['a']['clinic']}/rooms",
                           json={"name": "R", **many}, headers=admin)
    assert response.status_code == 422
    assert len(response.data) < 10_000, len(response.data)
    assert "and 4980 more fields with errors" in json.dumps(response.get_json())
    long_key = {"k" * 100_000: 1}
    response = client.post(f"/api/v1/clinics/{world['a']['clinic']}/rooms",
                           json={"name": "R", **long_key}, headers=admin)
    assert response.status_code == 422 and len(response.data) < 2_000


@pytest.fixture
def viewer_and_admin(keys):
    return keys("viewer"), keys("admin")
