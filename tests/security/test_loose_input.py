"""Input that used to pass loosely: each is now a 422 naming the field (or a 404 for a path)."""

from __future__ import annotations

import pytest

from tests.support.factories import patient_body, room_body, staff_body
from tests.support.practice import build_practice


def fields_of(response) -> dict:
    return response.get_json()["error"].get("fields", {})


@pytest.mark.parametrize("capacity", [2.5, "2", True, 2.0])
def test_room_capacity_must_be_a_json_integer(admin_api, world, capacity):
    response = admin_api.call("POST", f"/clinics/{world['a']['clinic']}/rooms",
                              room_body(capacity=capacity), expect=422)
    assert list(fields_of(response)) == ["capacity"]


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_name_the_field(admin_api, value):
    response = admin_api.call("POST", "/patients", patient_body(value), expect=422)
    assert list(fields_of(response)) == ["clinic_id"]
    response = admin_api.call("GET", f"/patients?clinic_id={value}", expect=422)
    assert list(fields_of(response)) == ["clinic_id"]


def test_query_integers_are_digits(admin_api, world):
    assert admin_api.get(f"/patients?clinic_id={world['a']['clinic']}")
    for text in ("1.5", "1_0", " 1", "+1", "0x1"):
        response = admin_api.call("GET", "/patients", query_string={"clinic_id": text},
                                  expect=422)
        assert list(fields_of(response)) == ["clinic_id"], text


def test_path_ids_beyond_64_bits_do_not_exist(admin_api):
    admin_api.call("GET", f"/patients/{2**63}", expect=404)
    admin_api.call("PATCH", f"/rooms/{10**30}", {"name": "x"}, expect=404)


@pytest.mark.parametrize("text", ["08:00\n", "08:00 ", "8:00", "08:00:00"])
def test_times_are_exactly_hh_mm(admin_api, world, text):
    body = staff_body(world["a"]["clinic"], shifts=[
        {"clinic_id": world["a"]["clinic"], "weekday": "mon", "start": text, "end": "12:00"}])
    response = admin_api.call("POST", "/staff", body, expect=422)
    assert list(fields_of(response)) == ["shifts[0].start"]
    response = admin_api.call("POST", "/patients", patient_body(
        world["a"]["clinic"], preferences={"earliest": text}), expect=422)
    assert list(fields_of(response)) == ["preferences.earliest"]


def test_patient_availability_window_must_be_ordered(admin_api, world):
    response = admin_api.call("POST", "/patients", patient_body(
        world["a"]["clinic"], preferences={"earliest": "15:00", "latest": "09:00"}), expect=422)
    assert list(fields_of(response)) == ["preferences.latest"]
    admin_api.post("/patients", patient_body(
        world["a"]["clinic"], preferences={"earliest": "09:00", "latest": "15:00"}))


def test_enrollment_availability_window_must_be_ordered(admin_api, world):
    response = admin_api.call("POST", "/enrollments", {
        "patient_id": world["a"]["patient"], "protocol_id": 1, "clinic_id": world["a"]["clinic"],
        "start_on": "2027-02-01", "availability": {"earliest": "15:00", "latest": "09:00"}},
        expect=422)
    assert "availability.latest" in fields_of(response)


def test_email_is_at_most_254_characters(admin_api, world):
    long_email = "a" * 64 + "@" + ".".join(["b" * 60] * 3 + ["c" * 54]) + ".org"
    assert len(long_email) == 306
    response = admin_api.call("POST", "/patients", patient_body(
        world["a"]["clinic"], email=long_email), expect=422)
    assert list(fields_of(response)) == ["email"]


@pytest.mark.parametrize("name", ["Ada\x00Lovelace", "Ada\nLovelace", "Ada\x1b[31m"])
def test_names_are_one_line_without_control_characters(admin_api, world, name):
    response = admin_api.call("POST", "/patients", patient_body(world["a"]["clinic"],
                                                                name=name), expect=422)
    assert list(fields_of(response)) == ["name"]
    response = admin_api.call("PATCH", f"/rooms/{world['a']['room']}", {"name": name},
                              expect=422)
    assert list(fields_of(response)) == ["name"]


def test_reschedule_is_capped_like_enrollment(admin_api):
    practice = build_practice(admin_api)
    patient = admin_api.post("/patients", {"name": "Ada", "clinic_id": practice.clinic})["id"]
    enrollment = admin_api.post("/enrollments", {
        "patient_id": patient, "protocol_id": practice.protocols["iv-depression"],
        "clinic_id": practice.clinic, "start_on": "2027-02-01"})
    first = enrollment["appointments"][0]["id"]
    for body, field in (({"start": "2200-01-01T10:00:00-05:00"}, "start"),
                        ({"not_before": "2200-01-01T00:00:00-05:00"}, "not_before")):
        response = admin_api.call("POST", f"/appointments/{first}/reschedule", body, expect=422)
        assert list(fields_of(response)) == [field]
