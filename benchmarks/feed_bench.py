"""iCal feed benchmark: a 2,000-event feed, full render versus 304 revalidation.

    .venv/bin/python -m benchmarks.feed_bench            # SQLite file, 2,000 events
    .venv/bin/python -m benchmarks.feed_bench --pg --write
        # SQLite and PostgreSQL (127.0.0.1:5432, database regimen_feed_bench, recreated);
        # --write puts the table under "Feeds" in benchmarks/RESULTS.md

Every request goes through the real app (Flask test client: routing, token lookup, queries,
rendering, headers), without a network socket. Measured:

- first fetch: the first render in a fresh process (zone data, caches cold);
- full render: ``GET`` after the feed changed (body cache emptied), median and p95;
- of which ``render_feed``: the query and the iCalendar text alone;
- 304: ``GET`` with the current ``ETag``: one token lookup and one aggregate query;
- unchanged: ``GET`` without ``If-None-Match`` (as Google Calendar polls) served from the
  per-worker body cache under the same ETag.

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


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
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
            rows += [f"| {backend} | {name} | {median} | {high} | {runs} |"
                     for name, median, high, runs in measured]
            notes.append(note)
    report = "\n".join([
        HEADING, "",
        f"`python -m benchmarks.feed_bench` ({datetime.now(UTC):%Y-%m-%d}): one clinic feed, "
        f"{notes[0]}; Python {platform.python_version()} on {platform.machine()}; requests "
        "through the in-process Flask test client (no network). Times in ms.", "",
        "| database | measurement | median | p95 | runs |",
        "| --- | --- | ---: | ---: | ---: |",
        *rows, "",
        "A client polling with the ETag it got costs the 304 row; one polling without it costs "
        "the last row; only a change to what the feed shows (appointments, names, the window "
        "moving at midnight UTC) costs a full render, once per worker.", "",
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

    cache = feed_cache.cache_for(app)

    def full():
        cache.clear()  # as after a change: the ETag is new, nothing cached under it
        assert client.get(path).status_code == 200

    def unconditional_unchanged():
        assert client.get(path).status_code == 200

    def revalidate():
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304

    token = path.removeprefix("/ical/").removesuffix(".ics")

    def render_only():
        with app.app_context():
            feed_content.render_feed(feeds.find_by_token(token), utcnow(),
                                     feed_content.FeedSettings.from_config(app.config))

    full_ms = timed(full, args.runs)
    render_ms = timed(render_only, args.runs)
    not_modified_ms = timed(revalidate, args.runs * 4)
    client.get(path)
    cached_ms = timed(unconditional_unchanged, args.runs * 4)
    with app.app_context():
        db.engine.dispose()
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite file"
    measured = [
        ("first fetch in a fresh process (cold)", f"{first_ms:.0f}", "", 1),
        ("full render: `GET` after a change", f"{statistics.median(full_ms):.0f}",
         f"{p95(full_ms):.0f}", len(full_ms)),
        ("of which `render_feed` (query + iCalendar text)",
         f"{statistics.median(render_ms):.0f}", f"{p95(render_ms):.0f}", len(render_ms)),
        ("304: `If-None-Match` with the current ETag",
         f"{statistics.median(not_modified_ms):.1f}", f"{p95(not_modified_ms):.1f}",
         len(not_modified_ms)),
        ("`GET` without `If-None-Match`, feed unchanged (body cache)",
         f"{statistics.median(cached_ms):.1f}", f"{p95(cached_ms):.1f}", len(cached_ms)),
    ]
    note = (f"{body.count(b'BEGIN:VEVENT')} events ({args.privacy}), "
            f"{len(body) / 1024:.0f} KiB of iCalendar")
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
        text = text[:start] + report + (text[end + 1:] if end != -1 else "")
    RESULTS.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
