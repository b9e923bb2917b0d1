"""A disruption applied while clients book into the clinic: 0 conflicts; held slots are the
database's to guard (PostgreSQL exclusion constraint)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.disruptions.conftest import day_of
from tests.support import pg
from tests.support.practice import build_practice

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


# ---------------------------------------------------------------- two servers on PostgreSQL

BOOKERS = 16


def test_two_servers_book_while_a_disruption_is_proposed_and_applied(tmp_path):
    """Two gunicorn servers on one PostgreSQL database: 16 clients enroll patients into the
    clinic (half through each server) while a third client proposes a nurse's sick day and
    applies it. Every answer is a 201 or a 409, the proposal is applied, and the calendar ends
    with 0 conflicts (independent checker), no booking of the absent nurse that day and every
    plan's rules intact."""
    from tests.booking.test_races import _free_port, _HttpApi, _request, _wait_healthy

    url = pg.fresh_database("regimen_repair_two_servers")
    env = {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "production",
           "REGIMEN_RATELIMIT_ENABLED": "0", "REGIMEN_PUBLIC_BASE_URL": "http://127.0.0.1",
           "REGIMEN_SECRET_KEY": "test-only-secret-key", "REGIMEN_HOLD_MINUTES": "30"}
    key = _migrated_with_key(url)
    servers, bases = [], []
    try:
        for n in range(2):
            port = _free_port()
            log = open(tmp_path / f"gunicorn-{n}.log", "wb")  # noqa: SIM115  (closed below)
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "8", "-b",
                 f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=log)
            proc.log = log
            servers.append(proc)
            bases.append(f"http://127.0.0.1:{port}/api/v1")
        for proc, base in zip(servers, bases, strict=True):
            _wait_healthy(base.removesuffix("/api/v1"), proc)
        api = _HttpApi(bases[0], key)
        practice = build_practice(api, infusion_rooms=2, nurses=2)
        protocol = _short_protocol(api)
        first = None
        for i in range(2):
            patient = api.post("/patients", {"name": f"Booked {i}", "clinic_id": practice.clinic})
            plan = api.post("/enrollments", {
                "patient_id": patient["id"], "protocol_id": protocol,
                "clinic_id": practice.clinic, "start_on": "2027-02-01"})
            plan = api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
            infusions = [a for a in plan["appointments"] if a["session_kind"] == "iv_infusion"]
            first = first or min(infusions, key=lambda a: a["start"])
        nurse = next(a["resource_id"] for a in first["allocations"]
                     if a["resource_type"] == "staff")
        start, end = day_of(first)
        patients = [api.post("/patients", {"name": f"R{i}", "clinic_id": practice.clinic})["id"]
                    for i in range(BOOKERS)]
        barrier = threading.Barrier(BOOKERS + 1)
        enrolled: list[int] = []
        outcome: dict[str, tuple] = {}

        def book(i, patient_id):
            barrier.wait()
            status, _ = _request("POST", f"{bases[i % 2]}/enrollments", key, {
                "patient_id": patient_id, "protocol_id": protocol,
                "clinic_id": practice.clinic, "start_on": start[:10]})
            enrolled.append(status)

        def disrupt():
            barrier.wait()
            outcome["propose"] = _request("POST", f"{bases[1]}/disruptions", key, {
                "kind": "staff_absence", "staff_id": nurse, "start": start, "end": end,
                "reason": "sick"})
            status, proposal = outcome["propose"]
            if status == 201:
                outcome["apply"] = _request(
                    "POST", f"{bases[0]}/disruptions/{proposal['id']}/apply", key)

        threads = [threading.Thread(target=book, args=(i, p)) for i, p in enumerate(patients)]
        threads.append(threading.Thread(target=disrupt))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        for proc in servers:
            proc.wait(timeout=30)
            proc.log.close()
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*.log"))
    assert len(enrolled) == BOOKERS and set(enrolled) <= {201, 409}, (enrolled, logs)
    assert outcome["propose"][0] == 201, (outcome["propose"], logs)
    assert outcome["propose"][1]["changes"]  # the sick day hit booked sessions
    assert outcome["apply"][0] == 200, (outcome["apply"], logs)
    _check_stored(url, nurse, start, end)


def _migrated_with_key(url: str) -> str:
    """The schema and an admin key, made in this process (two fewer interpreter starts)."""
    from flask_migrate import upgrade

    from scheduler import create_app
    from scheduler.extensions import db
    from scheduler.services import keys

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        _, secret = keys.create_key("admin", [], "race test")
        db.session.commit()
        db.engine.dispose()
    return secret


def _short_protocol(api) -> int:
    """Consult, three infusions with spacing rules, dose spacing (quick to place)."""
    return api.post("/protocols", {
        "code": "short-race", "name": "Short", "min_hours_between_doses": 24,
        "phases": [
            {"name": "consult", "session_kind": "consult", "count": 1},
            {"name": "induction", "session_kind": "iv_infusion", "count": 3,
             "after": {"phase": "consult", "min_days": 1, "max_days": 14},
             "gap_days": {"min": 1, "target": 2, "max": 5}, "within_days": 14,
             "max_per_week": 3}]})["id"]


def _check_stored(url, nurse, start, end):
    """The independent checker, and every live plan's rules by the evaluator, on PostgreSQL."""
    from datetime import datetime

    from scheduler import create_app
    from scheduler.extensions import db
    from scheduler.models import Allocation, Enrollment
    from scheduler.services import proof
    from tests.support.checker import calendar_problems

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        with db.engine.connect() as conn:
            assert calendar_problems(conn) == []
        lo, hi = datetime.fromisoformat(start), datetime.fromisoformat(end)
        assert not db.session.scalars(db.select(Allocation).where(
            Allocation.resource_type == "staff", Allocation.resource_id == nurse,
            Allocation.active.is_(True), Allocation.appointment_id.is_not(None),
            Allocation.starts_at < hi, Allocation.ends_at > lo)).all()
        judged = 0
        for enrollment in db.session.scalars(db.select(Enrollment)):
            if enrollment.status not in ("booked", "held"):
                continue
            violations, _ = proof.plan_violations(enrollment, complete=False)
            assert violations == [], (enrollment.id, [v.message for v in violations])
            judged += 1
        assert judged >= 2
        db.engine.dispose()
