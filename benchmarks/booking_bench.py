"""Booking throughput and latency through gunicorn (2 workers), on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.booking_bench --db sqlite
    .venv/bin/python -m benchmarks.booking_bench --db postgresql [--enrollments 400] [--clients 16]

Builds a busy clinic over HTTP (8 infusion rooms, 12 staff, the iv-depression template), then
16 client threads enroll and confirm patients as fast as the server answers; then the same
clients read one-week calendars of the clinic. Prints throughput, p50/p95/p99 latencies and the
independent conflict check of the final calendar.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WEEK = ("mon", "tue", "wed", "thu", "fri")


class Client:
    """One keep-alive HTTP connection per thread, like a real front-desk client."""

    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None):
        self.conn.request(method, f"/api/v1{path}", body=json.dumps(body) if body else None,
                          headers=self.headers)
        response = self.conn.getresponse()
        payload = response.read()
        return response.status, (json.loads(payload) if payload else None)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(name, seconds):
    ms = [s * 1000 for s in seconds]
    return (f"{name}: n={len(ms)} p50={statistics.median(ms):.1f} ms "
            f"p95={percentile(ms, 95):.1f} ms p99={percentile(ms, 99):.1f} ms")


def setup_database(kind: str, workdir: Path) -> str:
    """A fresh database: a SQLite file, or the PostgreSQL database ``REGIMEN_BENCH_DB``
    (default ``regimen_bench``; dropped and recreated)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    name = os.environ.get("REGIMEN_BENCH_DB", "regimen_bench")
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def build_clinic(client: Client, protocol_id: int | None = None) -> tuple[int, int]:
    """A busy clinic's rooms and staff; the iv-depression template unless given a protocol."""
    _, clinic = client.call("POST", "/clinics", {
        "name": "Busy clinic", "timezone": "America/New_York",
        "hours": {d: [["07:00", "19:00"]] for d in WEEK}})
    cid = clinic["id"]
    for i in range(8):
        client.call("POST", f"/clinics/{cid}/rooms", {
            "name": f"Infusion {i}", "features": ["iv_pump", "vitals_monitor", "recliner"],
            "turnover_minutes": 15})
    client.call("POST", f"/clinics/{cid}/rooms", {"name": "Consult", "features": ["consult"]})
    shifts = [{"clinic_id": cid, "weekday": d, "start": "07:00", "end": "19:00"} for d in WEEK]
    for i in range(8):
        client.call("POST", "/staff", {"name": f"Nurse {i}", "roles": ["nurse"],
                                       "max_concurrent_patients": 3, "shifts": shifts})
    for i in range(2):
        client.call("POST", "/staff", {"name": f"Dr {i}", "roles": ["prescriber"],
                                       "shifts": shifts})
    for i in range(2):
        client.call("POST", "/staff", {"name": f"Therapist {i}", "roles": ["therapist"],
                                       "shifts": shifts})
    if protocol_id is not None:
        return cid, protocol_id
    status, protocol = client.call("POST", "/protocol-templates/iv-depression/instantiate", {})
    assert status == 201, protocol
    return cid, protocol["id"]


def run(kind: str, enrollments: int, clients: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="regimen-bench-"))
    url = setup_database(kind, workdir)
    env = {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "production",
           "REGIMEN_RATELIMIT_ENABLED": "0",
           "REGIMEN_PUBLIC_BASE_URL": "http://127.0.0.1",
           "REGIMEN_SECRET_KEY": "bench-only-secret-key"}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    key = subprocess.run([*flask, "api-key", "create", "--role", "admin"], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True).stdout.strip().split()[-1]
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b",
                               f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                Client(port, key).call("GET", "/clinics")
                break
            except OSError:
                time.sleep(0.1)
        admin = Client(port, key)
        clinic_id, protocol_id = build_clinic(admin)
        patients = [admin.call("POST", "/patients", {"name": f"P{i}", "clinic_id": clinic_id})[1]
                    ["id"] for i in range(enrollments)]
        start_on = date.today() + timedelta(days=7)
        enroll_times, confirm_times, statuses, reasons = [], [], [], {}
        lock = threading.Lock()
        queue = list(enumerate(patients))

        def enroller():
            client = Client(port, key)
            while True:
                with lock:
                    if not queue:
                        return
                    i, patient = queue.pop()
                body = {"patient_id": patient, "protocol_id": protocol_id, "clinic_id": clinic_id,
                        "start_on": (start_on + timedelta(days=i % 60)).isoformat(),
                        "availability": {"weekdays": list(WEEK), "earliest": "08:00",
                                         "latest": "18:00"}}
                t0 = time.perf_counter()
                status, plan = client.call("POST", "/enrollments", body)
                t1 = time.perf_counter()
                if status == 201:
                    client.call("POST", f"/enrollments/{plan['id']}/confirm")
                    t2 = time.perf_counter()
                with lock:
                    statuses.append(status)
                    if status != 201:
                        reasons[plan["error"]["message"][:160]] = \
                            reasons.get(plan["error"]["message"][:160], 0) + 1
                    enroll_times.append(t1 - t0)
                    if status == 201:
                        confirm_times.append(t2 - t1)

        began = time.perf_counter()
        threads = [threading.Thread(target=enroller) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        ok = statuses.count(201)

        week_times = []

        def reader(n):
            client = Client(port, key)
            for j in range(n):
                day = start_on + timedelta(days=7 * (j % 8))
                t0 = time.perf_counter()
                status, rows = client.call(
                    "GET", f"/appointments?clinic_id={clinic_id}&start={day}"
                           f"&end={day + timedelta(days=7)}&page_size=500")
                assert status == 200, rows
                with lock:
                    week_times.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=reader, args=(25,)) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _, sample = admin.call("GET", f"/appointments?clinic_id={clinic_id}&start={start_on}"
                                      f"&end={start_on + timedelta(days=7)}&page_size=500")
    finally:
        server.terminate()
        server.wait()

    sys.path.insert(0, str(ROOT))
    from tests.support.checker import calendar_problems

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        problems = calendar_problems(conn)
        appointments = conn.execute(sa.text("SELECT count(*) FROM appointments")).scalar_one()
    engine.dispose()
    print(f"database={kind} gunicorn workers=2 clients={clients}")
    print(f"enrollments: {ok} placed (201), {statuses.count(409)} refused (409), "
          f"other={[s for s in statuses if s not in (201, 409)]}; {appointments} appointments")
    for reason, count in sorted(reasons.items(), key=lambda x: -x[1])[:5]:
        print(f"  refused x{count}: {reason}")
    print(f"throughput: {ok / elapsed:.1f} enrollments/s (place + confirm) over {elapsed:.1f} s")
    print(summary("POST /enrollments", enroll_times))
    print(summary("POST /enrollments/{id}/confirm", confirm_times))
    print(summary(f"GET /appointments one week ({len(sample)} rows in the first week)",
                  week_times))
    print(f"conflicts in final calendar: {len(problems)}")
    if problems:
        print("\n".join(problems[:10]))
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--enrollments", type=int, default=320)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    run(args.db, args.enrollments, args.clients)


if __name__ == "__main__":
    main()
