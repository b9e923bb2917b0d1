"""iCal feed benchmark: a 2,000-event feed, full render versus 304 revalidation.

    .venv/bin/python -m benchmarks.feed_bench            # SQLite file, 2,000 events
    .venv/bin/python -m benchmarks.feed_bench --pg --write
        # SQLite and PostgreSQL (127.0.0.1:5432, database regimen_feed_bench, recreated);
        # --write puts the table under "Feeds" in benchmarks/RESULTS.md

Every request goes through the real app (Flask test client: routing, token lookup, queries,
rendering, headers), without a network socket; every figure is also given as a ratio to
``GET /healthz`` in the same run (issue 16's yardstick: the machine is shared). Measured:

- first fetch: the first render in a fresh process (imports, zone data, caches cold);
- cold: ``GET`` with both per-worker caches emptied (every event rendered), and of that
  ``render_feed`` alone (the query and the iCalendar text);
- after one appointment changed: its ``sequence`` and ``updated_at`` move (as the booking
  service does), then ``GET``: a new ETag, one event rendered, the others' bytes reused;
- 304: ``GET`` with the current ``ETag``, or with ``If-Modified-Since``: one token lookup and
  one aggregate query;
- unchanged: ``GET`` without validators (as Google Calendar polls) served from the per-worker
  body cache under the same ETag, plain and gzipped.

``--database-url URL`` (repeatable) measures other databases; PostgreSQL ones are dropped and
recreated.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADING = "## Feeds"


def build(app, events: int, privacy: str) -> str:
    """A clinic with 8 rooms, 10 nurses, 500 patients and ``events`` appointments in one room's
    clinic; returns the path of a clinic feed."""
    from scheduler.extensions import db
    from scheduler.models import Allocation, Appointment, Clinic, Patient, Room, StaffMember
    from scheduler.services import feeds
    from scheduler.services.access import SYSTEM_PRINCIPAL

    rng = random.Random(7)
    with app.app_context():
        clinic = Clinic(name="Bench clinic", timezone="America/New_York")
        db.session.add(clinic)
        db.session.flush()
        rooms = [Room(clinic_id=clinic.id, name=f"Room {i}") for i in range(8)]
        staff = [StaffMember(name=f"Nurse {i}", roles=["nurse"]) for i in range(10)]
        patients = [Patient(clinic_id=clinic.id, name=f"Patient {i}", external_id=f"MRN-{i}")
                    for i in range(500)]
        db.session.add_all(rooms + staff + patients)
        db.session.flush()
        today = datetime.now(UTC).replace(hour=13, minute=0, second=0, microsecond=0)
        statuses = ["booked"] * 90 + ["held"] * 4 + ["completed"] * 4 + ["cancelled"] * 2
        # Distinct (day, slot, room) triples: the calendar must be conflict-free (PostgreSQL
        # refuses overlaps). Room i is always staffed by nurse i.
        slots = [(day, slot, room) for day in range(-20, 360) for slot in range(4)
                 for room in range(len(rooms))]
        for i, (day, slot, room) in enumerate(rng.sample(slots, events)):
            start = today + timedelta(days=day, minutes=90 * slot)
            end = start + timedelta(minutes=85)
            status = rng.choice(statuses)
            appt = Appointment(patient_id=rng.choice(patients).id, clinic_id=clinic.id,
                               session_kind="iv_infusion", starts_at=start, ends_at=end,
                               status=status, sequence=rng.randrange(1, 4))
            appt.allocations = [
                Allocation(resource_type=kind, resource_id=resource.id, starts_at=start,
                           ends_at=end, active=status != "cancelled")
                for kind, resource in (("room", rooms[room]), ("staff", staff[room]))]
            db.session.add(appt)
            if i % 500 == 499:
                db.session.flush()
        db.session.commit()
        _feed, token = feeds.create_feed(SYSTEM_PRINCIPAL, {
            "scope": "clinic", "scope_id": clinic.id, "privacy": privacy})
    return f"/ical/{token}.ics"


class Samples(list):
    """Wall-clock milliseconds, with the process's CPU milliseconds of the same calls in
    ``cpu``: on a shared machine the CPU figure moves far less with the load."""

    def __init__(self):
        super().__init__()
        self.cpu: list[float] = []

    def measure(self, fn):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        self.append((time.perf_counter() - t0) * 1000)
        self.cpu.append((time.process_time() - c0) * 1000)


def timed(fn, runs: int) -> Samples:
    out = Samples()
    for _ in range(runs):
        out.measure(fn)
    return out


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/regimen_feed_bench"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--privacy", choices=("busy", "details"), default="details")
    parser.add_argument("--pg", action="store_true", help=f"also measure on {PG_URL}")
    parser.add_argument("--database-url", action="append", default=[],
                        help="measure on this database too (repeatable)")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("REGIMEN_ENV", "testing")

    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        urls = [f"sqlite:///{tmp}/feed-bench.db"] + ([PG_URL] if args.pg else [])
        for url in urls + args.database_url:
            backend, measured, note = measure(url, args)
            rows += [f"| {backend} | {name} | {median} | {high} | {ratio} | {cpu} | {runs} |"
                     for name, median, high, ratio, cpu, runs in measured]
            notes.append(note)
    report = "\n".join([
        HEADING, "",
        f"`python -m benchmarks.feed_bench` ({datetime.now(UTC):%Y-%m-%d}): one clinic feed, "
        f"{notes[0]}; Python {platform.python_version()} on {platform.machine()}; requests "
        "through the in-process Flask test client (no network). Times in ms.", "",
        "| database | measurement | median | p95 | median ÷ /healthz | CPU median (÷ /healthz) "
        "| runs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        *rows, "",
        "A client polling with a validator costs a 304 row; one polling without costs the "
        "body-cache rows; a change to what the feed shows costs the \"one changed\" row (its "
        "events rendered again, the rest reused); only a worker that has rendered none of the "
        "feed's events (after a restart, or the window moving at midnight UTC for the bodies) "
        "pays the cold row. Issue 16's goals: cold ≤ 200 ms, one changed ≤ 50 ms, 304 ≤ 2× "
        "`/healthz`.", "",
    ])
    print(report)
    if args.write:
        write_section(report)
        print(f"updated {RESULTS}")


def measure(url: str, args) -> tuple[str, list[tuple], str]:
    from flask_migrate import upgrade

    from scheduler import create_app
    from scheduler.extensions import db
    from scheduler.models.types import utcnow
    from scheduler.services import feed_cache, feed_content, feeds

    if url.startswith("postgresql"):
        _recreate_pg(url)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
    path = build(app, args.events, args.privacy)
    if url.startswith("postgresql"):
        import sqlalchemy as sa

        with app.app_context(), db.engine.connect() as conn:  # as autovacuum would have
            conn.execute(sa.text("ANALYZE"))
    client = app.test_client()

    t0 = time.perf_counter()
    first = client.get(path)
    first_ms = (time.perf_counter() - t0) * 1000
    assert first.status_code == 200, first.status_code
    etag, body = first.headers["ETag"], first.data
    gz = client.get(path, headers={"Accept-Encoding": "gzip"}).data

    def unconditional_unchanged():
        assert client.get(path).status_code == 200

    def revalidate():
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304

    token = path.removeprefix("/ical/").removesuffix(".ics")

    def render_only():
        with app.app_context():
            feed_content.render_feed(feeds.find_by_token(token), utcnow(),
                                     feed_content.FeedSettings.from_config(app.config))

    import sqlalchemy as sa

    from scheduler.models import Appointment

    def cold():
        feed_cache.clear_all(app)  # nothing rendered in this worker yet
        assert client.get(path).status_code == 200

    with app.app_context():
        ids = [row[0] for row in db.session.execute(
            sa.select(Appointment.id).order_by(Appointment.starts_at))]
    changes = iter(ids[len(ids) // 2:])

    def one_changed(samples: Samples):
        # As the booking service does on a visible change: sequence and updated_at move.
        with app.app_context():
            db.session.execute(sa.update(Appointment).where(Appointment.id == next(changes))
                               .values(sequence=Appointment.sequence + 1, updated_at=utcnow()))
            db.session.commit()
        samples.measure(lambda: client.get(path))

    def healthz():
        assert client.get("/healthz").status_code == 200

    def revalidate_since():
        assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304

    def gzipped():
        assert client.get(path, headers={"Accept-Encoding": "gzip"}).status_code == 200

    healthz_ms = timed(healthz, args.runs * 8)
    cold_ms = timed(cold, args.runs)
    render_ms = timed(render_only, args.runs)
    client.get(path)
    changed_ms = Samples()
    for _ in range(args.runs):
        one_changed(changed_ms)
    current = client.get(path)
    etag, modified = current.headers["ETag"], current.headers["Last-Modified"]
    not_modified_ms = timed(revalidate, args.runs * 8)
    since_ms = timed(revalidate_since, args.runs * 8)
    cached_ms = timed(unconditional_unchanged, args.runs * 8)
    gzipped_ms = timed(gzipped, args.runs * 4)
    healthz_after_ms = timed(healthz, args.runs * 8)
    with app.app_context():
        db.engine.dispose()
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite file"
    health = statistics.median(healthz_ms + healthz_after_ms)
    health_cpu = statistics.median(healthz_ms.cpu + healthz_after_ms.cpu)

    def row(name, samples, digits=1):
        median, cpu = statistics.median(samples), statistics.median(samples.cpu)
        return (name, f"{median:.{digits}f}", f"{p95(samples):.{digits}f}",
                f"{median / health:.1f}×", f"{cpu:.{digits}f} ({cpu / health_cpu:.1f}×)",
                len(samples))

    measured = [
        ("`GET /healthz` (the yardstick)", f"{health:.2f}", f"{p95(healthz_ms):.2f}", "1×",
         f"{health_cpu:.2f} (1×)", len(healthz_ms) + len(healthz_after_ms)),
        ("first fetch in a fresh process", f"{first_ms:.0f}", "", f"{first_ms / health:.0f}×",
         "", 1),
        row("cold: `GET`, nothing cached in the worker", cold_ms, 0),
        row("of which `render_feed` alone, nothing cached", render_ms, 0),
        row("after one appointment changed (its event rendered, the rest reused)",
            changed_ms),
        row("304: `If-None-Match` with the current ETag", not_modified_ms),
        row("304: `If-Modified-Since` with the current Last-Modified", since_ms),
        row("`GET` without validators, feed unchanged (body cache)", cached_ms),
        row("the same with `Accept-Encoding: gzip` (gzipped once, cached)", gzipped_ms),
    ]
    note = (f"{body.count(b'BEGIN:VEVENT')} events ({args.privacy}), "
            f"{len(body) / 1024:.0f} KiB of iCalendar ({len(gz) / 1024:.0f} KiB gzipped)")
    return backend, measured, note


def _recreate_pg(url: str) -> None:
    import sqlalchemy as sa

    name = sa.engine.make_url(url).database
    admin = sa.create_engine(sa.engine.make_url(url).set(database="postgres"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def write_section(report: str) -> None:
    """Replace our section of RESULTS.md (or append it); other sections stay as they are."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find(HEADING + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + report
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = (text[:start] + report.rstrip("\n") + "\n\n"
                + (text[end + 1:] if end != -1 else ""))
    RESULTS.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
