"""Every write is audited with who/what/when/before/after; a failing request leaves no trace."""

from __future__ import annotations

import pytest

from tests.support.factories import Api, clinic_body, staff_body


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


def test_writes_are_audited_with_before_and_after(client, keys, api):
    manager = Api(client, keys("manager"))
    clinic = manager.post("/clinics", clinic_body(name="Old name"))
    manager.patch(f"/clinics/{clinic['id']}", {"name": "New name"})
    manager.delete(f"/clinics/{clinic['id']}")
    entries = api.get(f"/audit?entity_type=clinics&entity_id={clinic['id']}")
    assert [e["action"] for e in entries] == ["delete", "update", "create"]
    create, update = entries[2], entries[1]
    assert create["before"] is None and create["after"]["name"] == "Old name"
    assert update["before"]["name"] == "Old name" and update["after"]["name"] == "New name"
    manager_key_ids = {e["api_key_id"] for e in entries}
    assert len(manager_key_ids) == 1 and None not in manager_key_ids
    assert all(e["actor"].startswith("key:rgk_") for e in entries)
    assert entries[0]["after"]["deleted_at"] is not None


def test_reads_are_not_audited(api):
    clinic = api.post("/clinics", clinic_body())
    before = len(api.get("/audit"))
    api.get(f"/clinics/{clinic['id']}")
    api.get("/clinics")
    assert len(api.get("/audit")) == before


def test_child_rows_are_audited(api):
    clinic = api.post("/clinics", clinic_body())
    member = api.post("/staff", staff_body(clinic["id"]))
    shifts = api.get("/audit?entity_type=shifts")
    assert len(shifts) == 5 and all(e["after"]["staff_id"] == member["id"] for e in shifts)


def test_crash_mid_write_leaves_nothing(api, monkeypatch):
    """The staff row is flushed before the failure; the whole request must still vanish."""
    from scheduler.extensions import db
    from scheduler.services import practice

    clinic = api.post("/clinics", clinic_body())
    audit_before = len(api.get("/audit"))
    real_build = practice._build_shifts

    def flush_then_fail(who, shifts):
        db.session.flush()
        real_build(who, shifts)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(practice, "_build_shifts", flush_then_fail)
    response = api.call("POST", "/staff", staff_body(clinic["id"]), expect=500)
    assert response.get_json()["error"]["code"] == "internal_error"
    monkeypatch.undo()
    assert api.get("/staff") == []
    assert len(api.get("/audit")) == audit_before


def test_integrity_error_is_409_and_rolls_back(api):
    clinic = api.post("/clinics", clinic_body())
    api.post("/patients", {"name": "A", "clinic_id": clinic["id"], "external_id": "X"})
    response = api.call("POST", "/patients",
                        {"name": "B", "clinic_id": clinic["id"], "external_id": "X"}, expect=409)
    assert response.get_json()["error"]["code"] == "conflict"
    assert [p["name"] for p in api.get("/patients")] == ["A"]
