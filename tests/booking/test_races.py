"""Concurrent enrollments into one tight clinic: every answer 201 or 409, never a conflict.

Threads are released together by a barrier, through the Flask app (on whichever database the
suite runs on) and through two separate gunicorn servers sharing one database (a SQLite file and
PostgreSQL). An independent checker reads the final calendar.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import pg
from tests.support.checker import calendar_problems
from tests.support.factories import Api
from tests.support.practice import build_practice

ROOT = Path(__file__).resolve().parents[2]
THREADS = 12


def _enroll_body(patient_id, practice, protocol="iv-depression"):
    return {"patient_id": patient_id, "protocol_id": practice.protocols[protocol],
            "clinic_id": practice.clinic, "start_on": "2027-02-01",
            "availability": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                             "earliest": "09:00", "latest": "13:00"}}


def test_threads_racing_through_the_app_never_double_book(app, client, admin, db_problems):
    api = Api(client, admin)
    practice = build_practice(api, infusion_rooms=1, nurses=1, hours=("08:00", "14:00"))
    patients = [api.post("/patients", {"name": f"P{i}", "clinic_id": practice.clinic})["id"]
                for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []

    def worker(patient_id):
        local = app.test_client()
        barrier.wait()
        response = local.post("/api/v1/enrollments", json=_enroll_body(patient_id, practice),
                              headers=admin)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=worker, args=(p,)) for p in patients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(statuses) == THREADS
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) >= 1
    assert db_problems() == []
    booked = api.get("/appointments?page_size=500")
    assert len({a["enrollment_id"] for a in booked}) == statuses.count(201)


def test_postgres_refuses_overlap_even_without_the_code():
    """The exclusion constraint itself: two overlapping active rows on one unit cannot exist."""
    url = pg.fresh_database("regimen_exclusion_test")
    env = {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "development"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env=env, check=True, capture_output=True, timeout=120)
    engine = sa.create_engine(url)
    insert_appt = sa.text(
        "INSERT INTO appointments (patient_id, clinic_id, session_kind, starts_at, ends_at, "
        "status, sequence, created_at, updated_at) VALUES (1, 1, 'x', :s, :e, 'booked', 0, "
        "now(), now()) RETURNING id")
    insert_alloc = sa.text(
        "INSERT INTO allocations (appointment_id, resource_type, resource_id, unit, starts_at, "
        "ends_at, active) VALUES (:a, 'room', 7, :u, :s, :e, :active)")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO clinics (name, timezone, hours, closures, "
                             "certifications, created_at, updated_at) VALUES ('c', 'UTC', "
                             "'{}', '[]', '[]', now(), now())"))
        conn.execute(sa.text("INSERT INTO patients (clinic_id, name, preferences, created_at, "
                             "updated_at) VALUES (1, 'p', '{}', now(), now())"))
        a = conn.execute(insert_appt, {"s": "2027-01-01T10:00Z", "e": "2027-01-01T11:00Z"})
        appt = a.scalar_one()
        conn.execute(insert_alloc, {"a": appt, "u": 0, "s": "2027-01-01T10:00Z",
                                    "e": "2027-01-01T11:00Z", "active": True})
        # Touching end-to-start is fine (half-open); another unit is fine; inactive is fine.
        conn.execute(insert_alloc, {"a": appt, "u": 0, "s": "2027-01-01T11:00Z",
                                    "e": "2027-01-01T12:00Z", "active": True})
        conn.execute(insert_alloc, {"a": appt, "u": 1, "s": "2027-01-01T10:30Z",
                                    "e": "2027-01-01T11:30Z", "active": True})
        conn.execute(insert_alloc, {"a": appt, "u": 0, "s": "2027-01-01T10:30Z",
                                    "e": "2027-01-01T11:30Z", "active": False})
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert_alloc, {"a": appt, "u": 0, "s": "2027-01-01T10:59Z",
                                    "e": "2027-01-01T11:01Z", "active": True})
    assert caught.value.orig.sqlstate == "23P01"
    engine.dispose()


# ---------------------------------------------------------------- two gunicorn servers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(method, url, key, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _wait_healthy(base, proc):
    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited; see its log")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def _run_two_servers(database_url: str, logdir: Path):
    env = {**os.environ, "DATABASE_URL": database_url, "REGIMEN_ENV": "production",
           "REGIMEN_RATELIMIT_ENABLED": "0",
           "REGIMEN_PUBLIC_BASE_URL": "http://127.0.0.1",
           "REGIMEN_SECRET_KEY": "test-only-secret-key"}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    created = subprocess.run([*flask, "api-key", "create", "--role", "admin"], cwd=ROOT, env=env,
                             check=True, capture_output=True, text=True, timeout=60)
    key = created.stdout.strip().splitlines()[-1]
    servers, bases = [], []
    try:
        for n in range(2):
            port = _free_port()
            log = open(logdir / f"gunicorn-{n}.log", "wb")  # noqa: SIM115  (closed with the server)
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "4", "-b",
                 f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=log)
            proc.log = log
            servers.append(proc)
            bases.append(f"http://127.0.0.1:{port}/api/v1")
        for proc, base in zip(servers, bases):
            _wait_healthy(base.removesuffix("/api/v1"), proc)
        practice = _setup_over_http(bases[0], key)
        patients = [_request("POST", f"{bases[0]}/patients", key,
                             {"name": f"P{i}", "clinic_id": practice.clinic})[1]["id"]
                    for i in range(THREADS)]
        barrier = threading.Barrier(THREADS)
        statuses = []

        def worker(i, patient_id):
            barrier.wait()
            status, _ = _request("POST", f"{bases[i % 2]}/enrollments", key,
                                 _enroll_body(patient_id, practice))
            statuses.append(status)

        threads = [threading.Thread(target=worker, args=(i, p)) for i, p in enumerate(patients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        return statuses
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
            proc.log.close()


class _HttpApi(Api):
    def __init__(self, base, key):
        self.base, self.key = base, key

    def call(self, method, path, body=None, expect=None, **kwargs):
        status, payload = _request(method, f"{self.base}{path}", self.key, body)
        if expect is not None:
            assert status == expect, (status, payload)

        class R:
            status_code = status

            def get_json(self):
                return payload
        return R()


def _setup_over_http(base, key):
    return build_practice(_HttpApi(base, key), infusion_rooms=1, nurses=1,
                          hours=("08:00", "14:00"))


def _check(database_url, statuses, logdir):
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in logdir.glob("*.log"))
    assert len(statuses) == THREADS
    assert set(statuses) <= {201, 409}, (statuses, logs)
    assert statuses.count(201) >= 1
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert calendar_problems(conn) == []
        enrollments = conn.execute(sa.text("SELECT count(*) FROM enrollments")).scalar_one()
    engine.dispose()
    assert enrollments == statuses.count(201)


@pytest.mark.slow
def test_two_gunicorn_servers_on_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    _check(url, _run_two_servers(url, tmp_path), tmp_path)


@pytest.mark.slow
def test_two_gunicorn_servers_on_postgresql(tmp_path):
    url = pg.fresh_database("regimen_gunicorn_race")
    _check(url, _run_two_servers(url, tmp_path), tmp_path)


def test_sqlite_reads_begin_deferred_and_writes_immediate(tmp_path):
    """Readers take no write lock on SQLite; every write request still serialises.

    Runs on its own SQLite file whatever database the suite uses, so it never skips.
    """
    from flask_migrate import upgrade
    from sqlalchemy import event

    from scheduler import create_app
    from scheduler.extensions import db
    from scheduler.services import keys as key_service

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'modes.db'}")
    seen = []

    def listener(conn, cursor, statement, *args):
        seen.append(statement)

    with app.app_context():
        upgrade()
        _key, secret = key_service.create_key("admin")
        event.listen(db.engine, "before_cursor_execute", listener)
    admin = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    try:
        seen.clear()
        client.get("/api/v1/clinics", headers=admin)
        reads = [s for s in seen if s.startswith("BEGIN")]
        seen.clear()
        client.post("/api/v1/clinics", json={"name": "x", "timezone": "UTC"}, headers=admin)
        writes = [s for s in seen if s.startswith("BEGIN")]
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", listener)
            db.engine.dispose()
    assert reads and set(reads) == {"BEGIN"}
    assert writes and set(writes) == {"BEGIN IMMEDIATE"}
