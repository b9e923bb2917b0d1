"""Webhooks: what the outbox costs a booking, commit-to-delivery latency, sustained rate.

    python3 dev.py bench webhooks --db sqlite
    python3 dev.py bench webhooks --db postgresql   # recreates database regimen_bench_webhooks

1. Outbox cost: in one process, enroll + confirm patients into a busy clinic (8 rooms, 12 staff,
   iv-depression) through the Flask test client, alternating blocks with the outbox on and off
   (off = the emit functions replaced by no-ops), with one subscription present.
2. Latency: a real ``flask --app wsgi scheduler run`` process (delivery polled every second, the
   default) and a receiver on 127.0.0.1; events are committed one at a time, 100 ms apart;
   latency = arrival at the receiver minus the commit.
3. Sustained rate: N events committed at once; events per second until the last one arrives.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.booking_bench import WEEK, build_clinic, percentile  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_NAME = "regimen_bench_webhooks"


def setup_database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + DB_NAME


class TestClientAdapter:
    """booking_bench's client interface over the Flask test client (no HTTP server)."""

    def __init__(self, client, key):
        self.client, self.headers = client, {"Authorization": f"Bearer {key}"}

    def call(self, method, path, body=None):
        response = self.client.open(f"/api/v1{path}", method=method, json=body,
                                    headers=self.headers)
        return response.status_code, response.get_json()


class Receiver:
    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with state.lock:
                    state.arrivals.setdefault(self.headers["webhook-id"], time.time())
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


def outbox_cost(app, api, clinic_id, protocol_id, rounds: int, block: int) -> dict:
    from scheduler.services import outbox

    real = {name: getattr(outbox, name) for name in ("_appointment_event",
                                                      "enrollment_changed")}
    off = {"_appointment_event": lambda *a, **k: None, "enrollment_changed": lambda *a, **k: None}
    timings = {mode: {"enroll": [], "confirm": [], "enroll_cpu": [], "confirm_cpu": []}
               for mode in ("on", "off")}
    start_on = date.today() + timedelta(days=7)
    n = 0
    for r in range(rounds):
        for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
            for name, fn in (real if mode == "on" else off).items():
                setattr(outbox, name, fn)
            for _ in range(block):
                _, patient = api.call("POST", "/patients",
                                      {"name": f"P{n}", "clinic_id": clinic_id})
                body = {"patient_id": patient["id"], "protocol_id": protocol_id,
                        "clinic_id": clinic_id,
                        "start_on": (start_on + timedelta(days=n % 90)).isoformat(),
                        "availability": {"weekdays": list(WEEK), "earliest": "08:00",
                                         "latest": "18:00"}}
                n += 1
                t0, c0 = time.perf_counter(), time.process_time()
                status, plan = api.call("POST", "/enrollments", body)
                t1, c1 = time.perf_counter(), time.process_time()
                if status != 201:
                    continue
                status, _ = api.call("POST", f"/enrollments/{plan['id']}/confirm")
                t2, c2 = time.perf_counter(), time.process_time()
                timings[mode]["enroll"].append(t1 - t0)
                timings[mode]["confirm"].append(t2 - t1)
                # CPU time of this process (the whole request on SQLite; PostgreSQL's share
                # is not in it): far less noisy than wall time on a shared machine.
                timings[mode]["enroll_cpu"].append(c1 - c0)
                timings[mode]["confirm_cpu"].append(c2 - c1)
    for name, fn in real.items():
        setattr(outbox, name, fn)
    return timings


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), to state a rate that load cannot skew."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report_cost(kind, timings, outbox_rows) -> None:
    def ms(values):
        return statistics.median(values) * 1000

    on, off = timings["on"], timings["off"]
    for mode in (on, off):
        mode["total"] = [a + b for a, b in zip(mode["enroll"], mode["confirm"], strict=True)]
        mode["total_cpu"] = [a + b for a, b in zip(mode["enroll_cpu"], mode["confirm_cpu"],
                                                    strict=True)]
    load = os.getloadavg()
    print(f"database={kind} load average={load[0]:.2f} cores={os.cpu_count()}")
    print(f"1. outbox cost, {len(on['total'])} + {len(off['total'])} enroll+confirm "
          f"({outbox_rows} events written); p50 wall | p50 CPU of this process")
    for label, key in (("POST /enrollments", "enroll"),
                       ("POST /enrollments/{id}/confirm", "confirm"),
                       ("enroll+confirm", "total")):
        a, b = ms(on[key]), ms(off[key])
        ca, cb = ms(on[key + "_cpu"]), ms(off[key + "_cpu"])
        print(f"   {label}: on={a:.1f} off={b:.1f} ms ({(a - b) / b * 100:+.1f} %) | "
              f"on={ca:.1f} off={cb:.1f} ms ({(ca - cb) / cb * 100:+.1f} %)")


def _wait_for_first_delivery_run(app, timeout: float = 120) -> None:
    from scheduler.extensions import db
    from scheduler.models import JobRun

    deadline = time.time() + timeout
    while time.time() < deadline:
        with app.app_context():
            run = db.session.get(JobRun, "deliver_webhooks")
            if run is not None and run.last_finished_at is not None:
                return
        time.sleep(0.2)
    raise RuntimeError("the scheduler process never ran deliver_webhooks")


def run(kind: str, rounds: int, block: int, latency_events: int, burst: int,
        cost_only: bool = False) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="regimen-webhook-bench-"))
    url = setup_database(kind, workdir)
    os.environ.update({"DATABASE_URL": url, "REGIMEN_RATELIMIT_ENABLED": "0"})
    from flask_migrate import upgrade

    from scheduler import create_app
    from scheduler.extensions import db
    from scheduler.models import Webhook, WebhookEvent
    from scheduler.services import keys, outbox

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url, WEBHOOK_ALLOW_PRIVATE=True)
    receiver = Receiver()
    with app.app_context():
        upgrade()
        _key, secret = keys.create_key("admin", [])
    api = TestClientAdapter(app.test_client(), secret)
    clinic_id, protocol_id = build_clinic(api)
    status, hook = api.call("POST", "/webhooks", {"url": receiver.url, "events": list(
        outbox.EVENT_TYPES), "privacy": "details"})
    assert status == 201, hook

    timings = outbox_cost(app, api, clinic_id, protocol_id, rounds, block)
    if cost_only:
        report_cost(kind, timings, None)
        return
    with app.app_context():
        outbox_rows = db.session.query(WebhookEvent).count()
        # Part 1 fed no scheduler: start parts 2-3 from an empty outbox.
        db.session.query(WebhookEvent).update({"dispatched_at": sa.func.now()})
        db.session.commit()

    env = {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "development",
           "REGIMEN_WEBHOOK_ALLOW_PRIVATE": "1"}
    scheduler = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler",
                                  "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    try:
        _wait_for_first_delivery_run(app)
        committed: dict[str, float] = {}
        with app.app_context():
            for i in range(latency_events):
                event_id = outbox.emit(outbox.OFFER_CREATED, [clinic_id], {"n": i}).public_id
                db.session.commit()
                committed[event_id] = time.time()
                # Touch nothing of the session while waiting: on SQLite a new transaction
                # would begin IMMEDIATE and hold the write lock against the scheduler.
                time.sleep(0.1)
        deadline = time.time() + 30
        while len(set(committed) & set(receiver.arrivals)) < len(committed) and \
                time.time() < deadline:
            time.sleep(0.05)
        latencies = [receiver.arrivals[e] - t for e, t in committed.items()
                     if e in receiver.arrivals]

        with app.app_context():
            ids = [outbox.emit(outbox.OFFER_CREATED, [clinic_id], {"n": i},
                               ordering_key=f"offer:{i % 50}").public_id for i in range(burst)]
            db.session.commit()
        burst_committed = time.time()
        cpu_before = _cpu_seconds(scheduler.pid)
        deadline = time.time() + 600
        while len(set(ids) & set(receiver.arrivals)) < burst and time.time() < deadline:
            time.sleep(0.1)
        burst_last = max(receiver.arrivals[i] for i in ids if i in receiver.arrivals)
        burst_cpu = _cpu_seconds(scheduler.pid) - cpu_before
        burst_got = len(set(ids) & set(receiver.arrivals))
        with app.app_context():
            disabled = db.session.get(Webhook, hook["id"]).status
    finally:
        scheduler.terminate()
        scheduler.wait()

    def ms(values):
        return statistics.median(values) * 1000

    report_cost(kind, timings, outbox_rows)
    print(f"2. commit -> delivery, {len(latencies)}/{latency_events} events: "
          f"p50={ms(latencies):.0f} ms p95={percentile(latencies, 95) * 1000:.0f} ms "
          f"max={max(latencies) * 1000:.0f} ms")
    print(f"3. sustained: {burst_got}/{burst} events in {burst_last - burst_committed:.1f} s = "
          f"{burst_got / (burst_last - burst_committed):.0f} events/s (one scheduler process); "
          f"endpoint {disabled}; scheduler CPU {burst_cpu / max(burst_got, 1) * 1000:.1f} ms "
          f"per delivery (≈ {burst_got / max(burst_cpu, 1e-9):.0f} events/s per core)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--latency-events", type=int, default=100)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--cost-only", action="store_true", help="part 1 only")
    args = parser.parse_args()
    run(args.db, args.rounds, args.block, args.latency_events, args.burst, args.cost_only)


if __name__ == "__main__":
    main()
