"""A disruption applied while clients book into the clinic: 0 conflicts; held slots are the
database's to guard (PostgreSQL exclusion constraint)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.disruptions.conftest import day_of
from tests.support import pg

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 8


def test_apply_while_clients_book_ends_with_no_conflict(app, api, admin, practice, booked,
                                                       calendar_ok):
    plans = booked(2)
    target = min((a for p in plans.values() for a in p["appointments"]
                  if a["session_kind"] == "iv_infusion"), key=lambda a: a["start"])
    nurse = next(a["resource_id"] for a in target["allocations"] if a["resource_type"] == "staff")
    start, end = day_of(target)
    proposal = api.post("/disruptions", {"kind": "staff_absence", "staff_id": nurse,
                                         "start": start, "end": end})
    patients = [api.post("/patients", {"name": f"R{i}", "clinic_id": practice.clinic})["id"]
                for i in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)
    statuses: dict[str, list[int]] = {"enroll": [], "apply": []}

    def enroll(patient_id):
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/enrollments", headers=admin, json={
            "patient_id": patient_id, "protocol_id": practice.protocols["iv-depression"],
            "clinic_id": practice.clinic, "start_on": start[:10]})
        statuses["enroll"].append(response.status_code)

    def apply():
        client = app.test_client()
        barrier.wait()
        response = client.post(f"/api/v1/disruptions/{proposal['id']}/apply", headers=admin)
        statuses["apply"].append(response.status_code)

    threads = [threading.Thread(target=enroll, args=(p,)) for p in patients]
    threads.append(threading.Thread(target=apply))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert statuses["apply"] == [200], statuses
    assert set(statuses["enroll"]) <= {201, 409} and len(statuses["enroll"]) == CLIENTS
    assert calendar_ok() == []


def test_postgres_guards_a_proposal_held_slot():
    url = pg.fresh_database("regimen_disruption_hold_test")
    env = {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "development"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env=env, check=True, capture_output=True, timeout=120)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO clinics (name, timezone, hours, closures, "
                             "certifications, created_at, updated_at) VALUES ('c', 'UTC', "
                             "'{}', '[]', '[]', now(), now())"))
        conn.execute(sa.text("INSERT INTO patients (clinic_id, name, preferences, created_at, "
                             "updated_at) VALUES (1, 'p', '{}', now(), now())"))
        disruption = conn.execute(sa.text(
            "INSERT INTO disruptions (kind, status, clinic_id, starts_at, ends_at, reason, "
            "allow_clinic_ids, clinic_ids, summary, changes, created_at, updated_at) VALUES "
            "('clinic_closure', 'proposed', 1, '2027-01-01T00:00Z', '2027-01-02T00:00Z', '', "
            "'[]', '[1]', '{}', '[]', now(), now()) RETURNING id")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO allocations (disruption_id, resource_type, resource_id, unit, "
            "starts_at, ends_at, active) VALUES (:d, 'room', 7, 0, '2027-01-05T10:00Z', "
            "'2027-01-05T11:00Z', true)"), {"d": disruption})
        appt = conn.execute(sa.text(
            "INSERT INTO appointments (patient_id, clinic_id, session_kind, starts_at, ends_at, "
            "status, sequence, created_at, updated_at) VALUES (1, 1, 'x', '2027-01-05T10:30Z', "
            "'2027-01-05T11:30Z', 'booked', 0, now(), now()) RETURNING id")).scalar_one()
    insert = sa.text("INSERT INTO allocations (appointment_id, disruption_id, resource_type, "
                     "resource_id, unit, starts_at, ends_at, active) VALUES (:a, :d, 'room', 7, "
                     "0, '2027-01-05T10:30Z', '2027-01-05T11:30Z', true)")
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert, {"a": appt, "d": None})
    assert caught.value.orig.sqlstate == "23P01"  # the held slot wins
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert, {"a": None, "d": None})
    assert caught.value.orig.sqlstate == "23514"  # an allocation has exactly one owner
    engine.dispose()
