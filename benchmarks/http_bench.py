"""End-to-end cost of real requests, as ratios to a bare ``/healthz`` on the same server.

    python3 dev.py bench http --db sqlite [--quick] [--allocations 100000]
    REGIMEN_BENCH_DB=regimen_bench python3 dev.py bench http --db postgresql [--quick]

One gunicorn (2 workers, rate limits off) on a fresh database; every figure is measured in the
same run as ``/healthz`` so the machine's speed cancels out (issue 16's goals are ratios):

1. ``POST /enrollments`` into a clinic holding ~6,000 appointments (each new plan released again
   so the calendar stays the same size): p50 and p95;
2. a 409 that names an earliest workable date (the clinic is closed for three weeks);
3. a busy clinic-week ``GET /appointments`` with 4 connections: requests per second;
4. 1,000 enrollments with their confirms into 3 clinics, one client: seconds;
5. 16 clients enrolling and confirming over 3 clinics: enroll+confirm per second, conflicts;
6. a clinic feed of the busy clinic revalidated with its ETag (304) against ``/healthz``;
7. the RSS of each worker with everything above in the database, then again after the
   database was filled up to ``--allocations`` rows (100,000 by default; synthetic
   conflict-free appointments in a fourth clinic, booked into by both workers so each holds
   its copy of that calendar).

The load average is printed with every figure: on a shared machine it moves them a lot.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.booking_bench import WEEK, Client, build_clinic, percentile, setup_database

ROOT = Path(__file__).resolve().parent.parent
FULL_AVAILABILITY = {"weekdays": list(WEEK), "earliest": "07:00", "latest": "19:00"}


def timed(call: Callable[[], object], n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def p50(times):
    return statistics.median(times) * 1000


def p95(times):
    return percentile(times, 95) * 1000


def rate(call: Callable[[Client], None], port: int, key: str, connections: int,
         seconds: float) -> float:
    """Requests per second over ``connections`` keep-alive clients for about ``seconds``."""
    done = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker():
        client = Client(port, key)
        count = 0
        while time.perf_counter() < stop:
            call(client)
            count += 1
        with lock:
            done[0] += count

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - began)


def healthz(client: Client) -> None:
    client.conn.request("GET", "/healthz")
    response = client.conn.getresponse()
    response.read()
    assert response.status == 200


def enroll(client: Client, patient: int, protocol: int, clinic: int, start_on: date,
           availability=FULL_AVAILABILITY):
    return client.call("POST", "/enrollments", {
        "patient_id": patient, "protocol_id": protocol, "clinic_id": clinic,
        "start_on": start_on.isoformat(), "availability": availability})


def fill(port: int, key: str, clinic: int, protocol: int, start_on: date, enrollments: int,
         days: int, threads: int = 4) -> int:
    """Book ``enrollments`` plans spread over ``days`` from ``start_on``; answer how many fit."""
    admin = Client(port, key)
    patients = [admin.call("POST", "/patients", {"name": f"F{i}", "clinic_id": clinic})[1]["id"]
                for i in range(enrollments)]
    queue = list(enumerate(patients))
    lock = threading.Lock()
    booked = [0]

    def worker():
        client = Client(port, key)
        while True:
            with lock:
                if not queue:
                    return
                i, patient = queue.pop()
            status, plan = enroll(client, patient, protocol, clinic,
                                  start_on + timedelta(days=i % days))
            if status == 201:
                client.call("POST", f"/enrollments/{plan['id']}/confirm")
                with lock:
                    booked[0] += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return booked[0]


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar_one()
    engine.dispose()
    return value


def worker_rss_mb(master_pid: int) -> list[float]:
    children = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True,
                              text=True).stdout.split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines()
                  if line.startswith("VmRSS:"))
        sizes.append(kb / 1024)
    return sizes


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def feed_304(port: int, key: str, clinic: int, bare_client: Client, n: int) -> str:
    """A clinic feed fetched once, then revalidated with its ETag, against /healthz."""
    admin = Client(port, key)
    status, feed = admin.call("POST", "/feeds", {"scope": "clinic", "scope_id": clinic})
    assert status == 201, feed
    path = "/" + feed["url"].split("/", 3)[3]
    conn = admin.conn
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    etag = response.getheader("ETag")
    assert response.status == 200 and etag, response.status

    def revalidate():
        conn.request("GET", path, headers={"If-None-Match": etag})
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 304, answer.status

    revalidate()
    times, bare = [], []
    for _ in range(n):  # interleaved, so both see the same load
        bare.append(timed(lambda: healthz(bare_client), 1)[0])
        times.append(timed(revalidate, 1)[0])
    return (f"feed 304 ({body.count(b'BEGIN:VEVENT')} events): p50 {p50(times):.2f} ms = "
            f"{p50(times) / p50(bare):.1f}x /healthz ({p50(bare):.2f} ms interleaved)   "
            f"(goal <= 2x)")


def fill_allocations(url: str, admin: Client, protocol: int, target: int) -> int:
    """A new busy clinic (through the API) filled by SQL with synthetic conflict-free booked
    appointments until the database holds ``target`` allocation rows: each holds a room and a
    nurse, one per room and 90-minute slot, from tomorrow on."""
    from datetime import UTC, datetime

    clinic, _ = build_clinic(admin, protocol)
    engine = sa.create_engine(url)
    sqlite = engine.dialect.name == "sqlite"

    def stamp(moment):  # as the UTCDateTime column type stores it
        return f"{moment.replace(tzinfo=None):%Y-%m-%d %H:%M:%S.%f}" if sqlite else moment

    # lane i: room i, nurse i and patient i, so no two rows of a lane overlap
    patients = [admin.call("POST", "/patients", {"name": f"Filled {i}", "clinic_id": clinic}
                           )[1]["id"] for i in range(8)]
    with engine.begin() as conn:
        have = conn.execute(sa.text("SELECT count(*) FROM allocations")).scalar_one()
        rooms = conn.execute(sa.text(
            "SELECT id FROM rooms WHERE clinic_id = :c AND CAST(features AS TEXT) NOT LIKE "
            "'%consult%' ORDER BY id"), {"c": clinic}).scalars().all()
        nurses = conn.execute(sa.text(
            "SELECT DISTINCT s.id FROM staff s JOIN shifts h ON h.staff_id = s.id "
            "WHERE h.clinic_id = :c AND CAST(s.roles AS TEXT) LIKE '%nurse%' ORDER BY s.id"),
            {"c": clinic}).scalars().all()
        width = min(len(rooms), len(nurses), len(patients))
        now = datetime.now(UTC)
        appointments = max(0, target - have + 1) // 2

        def slots():  # weekdays, 13:00-21:30 UTC: inside the clinic's 07:00-19:00 New York
            day = datetime(now.year, now.month, now.day, 13, tzinfo=UTC) + timedelta(days=1)
            while True:
                if day.weekday() < 5:
                    for k in range(6):
                        yield day + timedelta(minutes=90 * k)
                day += timedelta(days=1)

        starts = slots()
        start = None
        for chunk in range(0, appointments, 2000):
            allocations = []
            for i in range(chunk, min(appointments, chunk + 2000)):
                lane = i % width
                if lane == 0:
                    start = next(starts)
                end = start + timedelta(minutes=60)
                appt = conn.execute(sa.text(
                    "INSERT INTO appointments (patient_id, clinic_id, session_kind, key, "
                    "starts_at, ends_at, status, sequence, created_at, updated_at) VALUES "
                    "(:p, :c, 'iv_infusion', :k, :s, :e, 'booked', 0, :t, :t) RETURNING id"),
                    {"p": patients[lane], "c": clinic, "k": f"filled#{i}", "s": stamp(start),
                     "e": stamp(end), "t": stamp(now)}).scalar_one()
                for rtype, rid in (("room", rooms[lane]), ("staff", nurses[lane])):
                    allocations.append({"a": appt, "rt": rtype, "ri": rid, "s": stamp(start),
                                        "e": stamp(end)})
            conn.execute(sa.text(
                "INSERT INTO allocations (appointment_id, resource_type, resource_id, unit, "
                "starts_at, ends_at, active) VALUES (:a, :rt, :ri, 0, :s, :e, TRUE)"),
                allocations)
    engine.dispose()
    return clinic


def run(kind: str, quick: bool, allocations: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="regimen-http-bench-"))
    url = setup_database(kind, workdir)
    env = {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "production",
           "REGIMEN_RATELIMIT_ENABLED": "0", "REGIMEN_PUBLIC_BASE_URL": "http://127.0.0.1",
           "REGIMEN_SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef"}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    key = subprocess.run([*flask, "api-key", "create", "--role", "admin"], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True).stdout.strip().split()[-1]
    port = 19000 + os.getpid() % 1000
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b",
                               f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = [f"database={kind} gunicorn workers=2 machine={platform.machine()} "
             f"cores={os.cpu_count()} quick={quick}"]

    def report(text):
        print(text, flush=True)
        lines.append(text)

    try:
        for _ in range(200):
            try:
                Client(port, key).call("GET", "/clinics")
                break
            except OSError:
                time.sleep(0.1)
        admin = Client(port, key)
        bare = p50(timed(lambda: healthz(admin), 300))
        report(f"/healthz p50 {bare:.2f} ms (the unit of every ratio below)   {load()}")

        # 1. Enroll into a busy clinic, releasing each new plan so the calendar stays put.
        clinic, protocol = build_clinic(admin)
        start_on = date.today() + timedelta(days=7)
        t0 = time.perf_counter()
        booked = fill(port, key, clinic, protocol, start_on, 120 if quick else 640, 90)
        appointments = count(url, f"SELECT count(*) FROM appointments WHERE clinic_id = {clinic}"
                                  " AND status = 'booked'")
        report(f"seeded: {booked} plans, {appointments} booked appointments in "
               f"{time.perf_counter() - t0:.0f} s")
        patient = admin.call("POST", "/patients", {"name": "Probe", "clinic_id": clinic})[1]["id"]
        enroll_times = []
        for i in range(30 if quick else 100):
            t0 = time.perf_counter()
            status, plan = enroll(admin, patient, protocol, clinic,
                                  start_on + timedelta(days=i % 60))
            enroll_times.append(time.perf_counter() - t0)
            assert status in (201, 409), plan
            if status == 201:
                admin.call("POST", f"/enrollments/{plan['id']}/cancel")
        report(f"POST /enrollments ({appointments} appointments): p50 {p50(enroll_times):.1f} ms "
               f"= {p50(enroll_times) / bare:.0f}x, p95 {p95(enroll_times):.1f} ms = "
               f"{p95(enroll_times) / bare:.0f}x   (goal p50 <= 15x, p95 <= 40x)" + f"   {load()}")

        # 2. A 409 with an earliest workable date: three weeks closed, later dates open.
        last = count(url, f"SELECT max(starts_at) FROM appointments WHERE clinic_id = {clinic}")
        last = date.fromisoformat(str(last)[:10])
        closed_from = last + timedelta(days=7)
        closures = [(closed_from + timedelta(days=d)).isoformat() for d in range(21)]
        status, body = admin.call("PATCH", f"/clinics/{clinic}", {"closures": closures})
        assert status == 200, body
        refusals = []
        for _ in range(15 if quick else 40):
            t0 = time.perf_counter()
            status, body = enroll(admin, patient, protocol, clinic, closed_from)
            refusals.append(time.perf_counter() - t0)
            assert status == 409 and body["error"]["details"].get("earliest_start_on"), body
        report(f"409 with earliest date {body['error']['details']['earliest_start_on']}: "
               f"p50 {p50(refusals):.1f} ms = {p50(refusals) / bare:.0f}x   (goal <= 40x)"
               f"   {load()}")

        # 3. Clinic-week reads with 4 connections, against /healthz with 4 connections: the
        # week closest to the goal's ~80 appointments, and the busiest week. The clients read
        # the bytes without parsing them (as for /healthz): client CPU shares the cores.
        weeks = {}
        for k in range(0, 26):
            day = start_on + timedelta(days=7 * k)
            path = (f"/appointments?clinic_id={clinic}&start={day}"
                    f"&end={day + timedelta(days=7)}&page_size=500")
            weeks[path] = len(admin.call("GET", path)[1])
        typical = min(weeks, key=lambda path: abs(weeks[path] - 80))
        busiest = max(weeks, key=weeks.get)
        seconds = 3 if quick else 8
        bare_rate = rate(healthz, port, key, 4, seconds)
        for label, week in (("~80-appointment", typical), ("busiest", busiest)):
            def read_week(client, week=week):
                client.conn.request("GET", f"/api/v1{week}", headers=client.headers)
                response = client.conn.getresponse()
                response.read()
                assert response.status == 200

            week_rate = rate(read_week, port, key, 4, seconds)
            report(f"GET {label} clinic-week ({weeks[week]} appointments), 4 connections: "
                   f"{week_rate:.0f} req/s = {100 * week_rate / bare_rate:.0f} % of /healthz "
                   f"({bare_rate:.0f} req/s)   (goal >= 50 % at ~80)   {load()}")
        busiest = start_on + timedelta(days=14)

        # 4. 1,000 enrollments with their confirms into 3 clinics, one client.
        n = 150 if quick else 1000
        fresh = [build_clinic(admin, protocol) for _ in range(3)]
        people = [admin.call("POST", "/patients", {"name": f"S{i}", "clinic_id": fresh[i % 3][0]}
                             )[1]["id"] for i in range(n)]
        placed = 0
        t0 = time.perf_counter()
        for i, person in enumerate(people):
            cid, pid = fresh[i % 3]
            status, plan = enroll(admin, person, pid, cid,
                                  start_on + timedelta(days=(i // 3) % 180))
            if status == 201:
                admin.call("POST", f"/enrollments/{plan['id']}/confirm")
                placed += 1
        serial = time.perf_counter() - t0
        report(f"{n} enrollments + confirms, one client, 3 clinics: {serial:.1f} s "
               f"({placed} placed; {1000 * serial / n:.0f} ms each = "
               f"{1000 * serial / n / bare:.0f}x)"
               f"   (goal: 1,000 in <= 60 s)" + f"   {load()}")

        # 5. 16 clients over 3 clinics.
        m = 96 if quick else 320
        crowd = [admin.call("POST", "/patients", {"name": f"C{i}", "clinic_id": fresh[i % 3][0]}
                            )[1]["id"] for i in range(m)]
        queue = list(enumerate(crowd))
        lock = threading.Lock()
        ok = [0]

        def enroller():
            client = Client(port, key)
            while True:
                with lock:
                    if not queue:
                        return
                    i, person = queue.pop()
                cid, pid = fresh[i % 3]
                status, plan = enroll(client, person, pid, cid,
                                      start_on + timedelta(days=200 + i % 60))
                if status == 201:
                    status, _ = client.call("POST", f"/enrollments/{plan['id']}/confirm")
                    if status == 200:
                        with lock:
                            ok[0] += 1

        t0 = time.perf_counter()
        crowd_threads = [threading.Thread(target=enroller) for _ in range(16)]
        for t in crowd_threads:
            t.start()
        for t in crowd_threads:
            t.join()
        elapsed = time.perf_counter() - t0
        report(f"16 clients, 3 clinics: {ok[0] / elapsed:.1f} enroll+confirm/s ({ok[0]} of {m} "
               f"in {elapsed:.1f} s)   (goal >= 40/s on PostgreSQL)" + f"   {load()}")

        # 6. A feed revalidated (304) through the same server.
        report(feed_304(port, key, clinic, admin, 100 if quick else 300) + f"   {load()}")

        # 7. Worker memory with all of that in the database, then with `allocations` rows.
        def touch(clinic_ids):  # book into every clinic in both workers (their copies)
            for probe in range(8):
                client = Client(port, key)
                cid = clinic_ids[probe % len(clinic_ids)]
                person = client.call("POST", "/patients", {"name": "M", "clinic_id": cid}
                                     )[1]["id"]
                status, plan = enroll(client, person, protocol, cid, start_on)
                if status == 201:
                    client.call("POST", f"/enrollments/{plan['id']}/cancel")
                client.call("GET", f"/appointments?clinic_id={cid}"
                                   f"&start={busiest}&end={busiest + timedelta(days=7)}")

        touch([clinic, *(c for c, _ in fresh)])
        rows_now = count(url, "SELECT count(*) FROM allocations")
        rss = worker_rss_mb(server.pid)
        report(f"worker RSS with {rows_now} allocation rows: "
               f"{', '.join(f'{r:.0f} MB' for r in rss)}")
        if allocations > rows_now:
            t0 = time.perf_counter()
            filled = fill_allocations(url, admin, protocol, allocations)
            report(f"filled to {count(url, 'SELECT count(*) FROM allocations')} allocation rows "
                   f"in {time.perf_counter() - t0:.0f} s")
            touch([clinic, filled, *(c for c, _ in fresh)])
            rows_now = count(url, "SELECT count(*) FROM allocations")
            rss = worker_rss_mb(server.pid)
            report(f"worker RSS with {rows_now} allocation rows: "
                   f"{', '.join(f'{r:.0f} MB' for r in rss)}   (goal <= 300 MB at 100,000)")
    finally:
        server.terminate()
        server.wait()

    sys.path.insert(0, str(ROOT))
    from tests.support.checker import calendar_problems

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        problems = calendar_problems(conn)
    engine.dispose()
    report(f"conflicts in the final calendar: {len(problems)}")
    if problems:
        print("\n".join(problems[:10]))
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--allocations", type=int, default=100_000,
                        help="fill the database up to this many allocation rows for the "
                             "memory case (0: skip)")
    args = parser.parse_args()
    run(args.db, args.quick, args.allocations)


if __name__ == "__main__":
    main()
