"""Two clinics with a room, a nurse and a patient each, made with an admin key."""

from __future__ import annotations

import pytest

from tests.support.factories import Api, clinic_body, patient_body, room_body, staff_body


@pytest.fixture
def admin_api(client, admin):
    return Api(client, admin)


@pytest.fixture
def world(admin_api):
    out = {}
    for tag in ("a", "b"):
        clinic = admin_api.post("/clinics", clinic_body(name=f"Clinic {tag}"))
        out[tag] = {
            "clinic": clinic["id"],
            "room": admin_api.post(f"/clinics/{clinic['id']}/rooms", room_body())["id"],
            "staff": admin_api.post("/staff", staff_body(clinic["id"]))["id"],
            "patient": admin_api.post("/patients", patient_body(clinic["id"]))["id"],
        }
    return out


@pytest.fixture
def shared_staff(admin_api, world):
    """A nurse who works mornings at clinic a (Mondays) and clinic b (Tuesdays)."""
    a, b = world["a"]["clinic"], world["b"]["clinic"]
    return admin_api.post("/staff", staff_body(a, shifts=[
        {"clinic_id": a, "weekday": "mon", "start": "08:00", "end": "12:00"},
        {"clinic_id": b, "weekday": "tue", "start": "08:00", "end": "12:00"}]))["id"]
