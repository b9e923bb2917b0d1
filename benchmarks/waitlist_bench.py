"""Waitlist benchmark (SPEC 9): matching cost, release-to-offer latency, fill rate.

    python3 dev.py bench waitlist [--quick] [--write] [--database-url URL]

1. matching: one clinic holding 5,000 booked appointments (10 chairs, 08:00-18:00, weekdays,
   every chair-slot taken for ~20 weeks), 200 booked enrollments waiting (two-infusion plans
   weeks out). One slot is freed (a single appointment cancelled: no two-session plan fits, so
   every one of the 200 is tried: the worst case), then a whole plan's two slots (one offer,
   the other 199 tried). Timed: one ``matching.match_clinic`` pass, reads included.
2. latency: ``flask scheduler run`` in its own process (default job intervals) on the same
   database; a cancellation through the app, then ``GET /offers`` polled every 50 ms until an
   open offer shows: end to end, 10 times.
3. fill rate: a full two-chair clinic booked the month and ``--beyond-weeks`` more (default 8;
   every patient wanted to start on
   the first day); over its first 4 weeks 10 % of the appointments are cancelled at random
   (one at a time; from plans not waiting), 30 % of the
   plans wait; after each cancellation a matching pass runs and every offer is accepted.
   Freed infusion hours re-filled (booked infusion hours in the 4 weeks at the end versus right
   after the cancellations), with the waitlist and without (without: nothing re-fills them).

SQLite file by default; ``--database-url postgresql+psycopg://...`` (dropped and recreated).
``--write`` puts the table under "Waitlist" in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## Waitlist"
TZ = "America/New_York"
TWO_INFUSIONS = {
    "code": "two-infusions", "name": "Two IV infusions", "min_hours_between_doses": 24,
    "phases": [{"name": "series", "session_kind": "iv_infusion", "count": 2,
                "gap_days": {"min": 1, "target": 2, "max": 3}}]}


def make_app(url: str):
    os.environ["REGIMEN_RATELIMIT_ENABLED"] = "0"
    from flask_migrate import upgrade

    from scheduler import create_app

    if url.startswith("postgresql"):
        from tests.support import pg

        pg.recreate_database(url)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
    return app


def api_for(app):
    from scheduler.services import keys
    from tests.support.factories import Api

    with app.app_context():
        _key, secret = keys.create_key("admin", [])
    return Api(app.test_client(), {"Authorization": f"Bearer {secret}"})


ONE_INFUSION = {
    "code": "one-infusion", "name": "One IV infusion", "min_hours_between_doses": 24,
    "phases": [{"name": "single", "session_kind": "iv_infusion", "count": 1}]}


def practice(api, *, chairs: int, nurses: int, hours: tuple[str, str], rules=TWO_INFUSIONS):
    from tests.support.practice import build_practice

    ids = build_practice(api, infusion_rooms=chairs, nurses=nurses, hours=hours)
    protocol = api.post("/protocols", rules)["id"]
    return ids, protocol


# ---------------------------------------------------------------- 1. matching cost

def bulk_calendar(app, ids, protocol_id: int, appointments: int, waiting: int):
    """Every chair-slot taken, weekday after weekday, until ``appointments`` are stored; the
    last ``waiting`` pairs (two days apart) are booked plans on the waitlist."""
    from scheduler.extensions import db
    from scheduler.models import (
        Allocation,
        Appointment,
        Enrollment,
        Patient,
        ProtocolVersion,
        WaitlistEntry,
    )

    tz = ZoneInfo(TZ)
    with app.app_context():
        version = db.session.query(ProtocolVersion).filter_by(protocol_id=protocol_id).one()
        slots = []
        day = date.today() + timedelta(days=7)
        chairs = ids.rooms[:-1]
        while len(slots) < appointments:
            if day.weekday() < 5:
                # 08:00 + 105 minutes each (85-minute session, 15 turnover, on the 15-minute
                # grid); the 75 minutes left at the end of the day hold no session.
                for n in range(5):
                    start = datetime.combine(day, dtime(8), tzinfo=tz) + timedelta(minutes=105 * n)
                    for chair in chairs:
                        slots.append((start.astimezone(UTC), chair))
            day += timedelta(days=1)
        slots = slots[:appointments]
        standalone = slots[:appointments - 2 * waiting]
        patient = Patient(clinic_id=ids.clinic, name="Walk-in")
        db.session.add(patient)
        db.session.flush()

        def appointment(start, chair, patient_id, enrollment_id=None, key=None):
            end = start + timedelta(minutes=85)
            appt = Appointment(enrollment_id=enrollment_id, patient_id=patient_id,
                               clinic_id=ids.clinic, session_kind="iv_infusion",
                               phase="series" if key else None, key=key, starts_at=start,
                               ends_at=end, status="booked")
            appt.allocations = [
                Allocation(resource_type="room", resource_id=chair, unit=0, starts_at=start,
                           ends_at=end + timedelta(minutes=15), active=True),
                Allocation(resource_type="patient", resource_id=patient_id, unit=0,
                           starts_at=start, ends_at=end, active=True)]
            return appt

        # Standalone bookings: one patient each would be realistic; one walk-in patient
        # would overlap itself, so each slot gets its own patient row lazily (cheap).
        patients = [Patient(clinic_id=ids.clinic, name=f"P{i}") for i in range(len(standalone))]
        db.session.add_all(patients)
        db.session.flush()
        for (start, chair), p in zip(standalone, patients, strict=True):
            db.session.add(appointment(start, chair, p.id))
        db.session.flush()
        # Waiting plans: pairs from the tail, two slots two days apart in the same chair.
        tail = slots[appointments - 2 * waiting:]
        by_chair_day = {}
        for start, chair in tail:
            by_chair_day.setdefault(chair, []).append(start)
        pairs = []
        for chair, starts in by_chair_day.items():
            starts.sort()
            used = set()
            for i, s in enumerate(starts):
                if i in used:
                    continue
                for j in range(i + 1, len(starts)):
                    if j not in used and (starts[j].astimezone(tz).date()
                                          - s.astimezone(tz).date()).days in (1, 2, 3) \
                            and starts[j].astimezone(tz).time() == s.astimezone(tz).time():
                        pairs.append((chair, s, starts[j]))
                        used |= {i, j}
                        break
        pairs = pairs[:waiting]
        joined = datetime.now(UTC)
        for n, (chair, first, second) in enumerate(pairs):
            p = Patient(clinic_id=ids.clinic, name=f"Waiting {n}")
            db.session.add(p)
            db.session.flush()
            enrollment = Enrollment(
                patient_id=p.id, clinic_id=ids.clinic, protocol_id=protocol_id,
                protocol_version_id=version.id, protocol_version=version.version,
                start_on=date.today() + timedelta(days=7),
                availability={"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                              "earliest": "08:00", "latest": "18:00"},
                preferences={}, status="booked", horizon_end=date.today() + timedelta(days=97))
            db.session.add(enrollment)
            db.session.flush()
            db.session.add(appointment(first, chair, p.id, enrollment.id, "series#1"))
            db.session.add(appointment(second, chair, p.id, enrollment.id, "series#2"))
            db.session.add(WaitlistEntry(enrollment_id=enrollment.id, patient_id=p.id,
                                         clinic_id=ids.clinic,
                                         joined_at=joined + timedelta(seconds=n),
                                         min_gain_days=1))
        db.session.commit()
        stored = db.session.query(Appointment).count()
        return stored, len(pairs), standalone


def bench_matching(url: str, quick: bool) -> list[tuple[str, str]]:
    from scheduler.extensions import db
    from scheduler.models import Appointment
    from scheduler.services import lifecycle, matching
    from scheduler.services.transaction import atomic

    app = make_app(url)
    api = api_for(app)
    ids, protocol = practice(api, chairs=10, nurses=10, hours=("08:00", "18:00"))
    size = 1000 if quick else 5000
    waiting = 40 if quick else 200
    stored, waiting, standalone = bulk_calendar(app, ids, protocol, size, waiting)
    rows = []
    rng = random.Random(3)

    def free(starts):
        with app.app_context(), atomic():
            for start, chair in starts:
                appt = db.session.scalars(db.select(Appointment).join(Appointment.allocations)
                                          .where(Appointment.starts_at == start,
                                                 Appointment.status == "booked")
                                          .filter_by(resource_type="room",
                                                     resource_id=chair)).first()
                lifecycle.transition(appt, "cancelled")

    def one_pass():
        with app.app_context():
            t0, c0 = time.perf_counter(), time.process_time()
            made = matching.match_clinic(ids.clinic)
            cpu.append((time.process_time() - c0) * 1000)
            return (time.perf_counter() - t0) * 1000, made

    cpu: list[float] = []

    one_pass()  # warm-up: imports, zone data
    singles = []
    for _ in range(3 if quick else 5):
        free([standalone.pop(rng.randrange(len(standalone) // 4))])
        singles.append(one_pass())
    # A whole plan's worth: the same chair and time, two days apart, early in the calendar.
    first = standalone[10]
    second = next(s for s in standalone if s[1] == first[1] and
                  s[0] - first[0] == timedelta(days=2))
    free([first, second])
    plan = one_pass()
    single_cpu = statistics.median(cpu[1:len(singles) + 1])
    rows.append((f"one freed slot vs {waiting} waiting, {stored} booked: one pass, median of "
                 f"{len(singles)} (wall / CPU ms)",
                 f"{statistics.median(t for t, _ in singles):.0f} / {single_cpu:.0f} "
                 f"(offers made: {sum(m for _, m in singles)})"))
    rows.append((f"a freed two-slot plan vs {waiting} waiting: one pass (wall / CPU ms)",
                 f"{plan[0]:.0f} / {cpu[-1]:.0f} (offers made: {plan[1]})"))
    with app.app_context():
        db.engine.dispose()
    return rows


# ---------------------------------------------------------------- 2. release to offer

def bench_latency(url: str, runs: int) -> list[tuple[str, str]]:
    from tests.waitlist.conftest import Clinic

    app = make_app(url)
    api = api_for(app)
    ids, protocol = practice(api, chairs=1, nurses=1, hours=("09:00", "11:00"))
    clinic = Clinic(api, ids, protocol)
    env = {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "production",
           "REGIMEN_RATELIMIT_ENABLED": "0", "REGIMEN_PUBLIC_BASE_URL": "http://127.0.0.1",
           "REGIMEN_SECRET_KEY": "benchmark-only-secret-key"}
    log = open(Path(tempfile.gettempdir()) / f"waitlist-bench-scheduler-{os.getpid()}.log", "wb")
    scheduler = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler",
                                  "run"], cwd=ROOT, env=env, stdout=log, stderr=log)
    latencies = []
    try:
        time.sleep(3)  # the process elects itself and runs every job once
        for n in range(runs):
            early = clinic.booked(f"Early {n}")
            waiting = clinic.booked(f"Waiting {n}")
            clinic.wait(waiting)
            time.sleep(1.5)  # the join is matched too (nothing to offer yet)
            api.post(f"/enrollments/{early['id']}/cancel", expect=200)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 30:
                offers = [o for o in clinic.offers() if o["enrollment_id"] == waiting["id"]]
                if offers:
                    latencies.append(time.perf_counter() - t0)
                    api.post(f"/offers/{offers[0]['id']}/accept", expect=200)
                    break
                time.sleep(0.05)
            else:
                latencies.append(float("inf"))
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
        log.close()
    ordered = sorted(latencies)
    return [(f"cancellation → open offer, scheduler process running (s; {runs} runs, "
             "p50 / p95 / max)",
             f"{statistics.median(ordered):.2f} / {ordered[int(0.95 * (len(ordered) - 1))]:.2f}"
             f" / {ordered[-1]:.2f}")]


# ---------------------------------------------------------------- 3. fill rate

def bench_fill(url: str, quick: bool, rules=TWO_INFUSIONS, beyond: int = 2
               ) -> list[tuple[str, str]]:
    from scheduler.extensions import db
    from scheduler.models import Appointment
    from scheduler.services import matching
    from tests.waitlist.conftest import Clinic

    app = make_app(url)
    api = api_for(app)
    ids, protocol = practice(api, chairs=2, nurses=2, hours=("09:00", "15:00"), rules=rules)
    clinic = Clinic(api, ids, protocol)
    tz = ZoneInfo(TZ)
    month_start = date.today() + timedelta(days=14)
    month_start += timedelta(days=(7 - month_start.weekday()) % 7)  # a Monday
    month_end = month_start + timedelta(days=14 if quick else 28)
    lo = datetime.combine(month_start, dtime(0), tzinfo=tz)
    hi = datetime.combine(month_end, dtime(0), tzinfo=tz)
    plans = []
    start_on = month_start
    while start_on < month_end + timedelta(weeks=beyond):  # full, and weeks beyond
        plan = clinic.booked(f"P{len(plans)}", start_on=start_on.isoformat(), latest="15:00")
        plans.append(plan)
        start_on = max(start_on, date.fromisoformat(min(a["start"][:10]
                                                        for a in plan["appointments"])))

    # Every patient wanted to start at the beginning (the booking loop had to ask for later
    # start dates once the first two weeks were full): a later plan may move earlier.
    from scheduler.models import Enrollment

    with app.app_context():
        db.session.execute(db.update(Enrollment).where(Enrollment.clinic_id == ids.clinic)
                           .values(start_on=month_start))
        db.session.commit()

    def booked_hours() -> float:
        with app.app_context():
            rows = db.session.scalars(db.select(Appointment).where(
                Appointment.status == "booked", Appointment.starts_at < hi,
                Appointment.ends_at > lo, Appointment.clinic_id == ids.clinic))
            return sum((min(a.ends_at, hi) - max(a.starts_at, lo)).total_seconds()
                       for a in rows) / 3600

    rng = random.Random(11)
    full = booked_hours()
    # Patients join the waitlist in no particular order (not in the order they were booked):
    # first come, first served is the order of joining.
    joining = rng.sample(plans, round(0.3 * len(plans)))
    waiting = set(p["id"] for p in joining)
    for plan in joining:
        clinic.wait(plan)
    with app.app_context():
        matching.match_pending()  # the joins: nothing free yet
    in_month = [a for p in plans if p["id"] not in waiting for a in p["appointments"]
                if lo.isoformat() <= a["start"] < hi.isoformat()]
    all_in_month = [a for p in plans for a in p["appointments"]
                    if lo.isoformat() <= a["start"] < hi.isoformat()]
    cancelled = rng.sample(in_month, round(0.1 * len(all_in_month)))
    freed = sum((datetime.fromisoformat(a["end"]) - datetime.fromisoformat(a["start"]))
                .total_seconds() for a in cancelled) / 3600
    accepted = 0
    for appt in cancelled:
        api.post(f"/appointments/{appt['id']}/cancel", expect=200)
        while True:
            with app.app_context():
                made = matching.match_pending()
            offers = clinic.offers()
            if not offers:
                break
            for offer in offers:  # every patient says yes
                api.post(f"/offers/{offer['id']}/accept", expect=200)
                accepted += 1
            if not made:
                break
    after = booked_hours()
    without = full - freed
    days = (month_end - month_start).days
    name = rules["name"].lower()
    return [
        (f"{name}: simulated {days} days, 2 chairs full and {beyond} weeks beyond: plans / "
         "waiting / appointments in the window",
         f"{len(plans)} / {len(waiting)} / {len(all_in_month)}"),
        (f"{name}: cancelled at random (10 % of the window's appointments), hours freed",
         f"{len(cancelled)}, {freed:.1f} h"),
        (f"{name}: freed infusion hours re-filled without the waitlist",
         "0 % (in the simulation nothing else books freed time)"),
        (f"{name}: freed infusion hours re-filled with the waitlist (every offer accepted)",
         f"{100 * (after - without) / freed:.0f} % ({after - without:.1f} h; {accepted} "
         f"offers accepted)"),
    ]


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--only", choices=("matching", "latency", "fill"))
    parser.add_argument("--beyond-weeks", type=int, default=8,
                        help="fill rate: how many weeks past the month the clinic is full")
    args = parser.parse_args()

    def url(name):
        if args.database_url:
            return args.database_url
        return f"sqlite:///{tempfile.mkdtemp()}/{name}.db"

    rows = []
    if args.only in (None, "matching"):
        rows += bench_matching(url("matching"), args.quick)
    if args.only in (None, "latency"):
        rows += bench_latency(url("latency"), 5 if args.quick else 10)
    if args.only in (None, "fill"):
        rows += bench_fill(url("fill"), args.quick, beyond=args.beyond_weeks)
        rows += bench_fill(url("fill1"), args.quick, ONE_INFUSION, beyond=args.beyond_weeks)
    db_name = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else \
        "SQLite file"
    load = os.getloadavg()
    header = (f"({date.today().isoformat()}; {os.cpu_count()} cores, {platform.machine()}, "
              f"Python {platform.python_version()}, {db_name}; load average at the end "
              f"{load[0]:.1f}, the machine is shared)")
    table = "\n".join(["| measure | result |", "| --- | --- |",
                       *[f"| {k} | {v} |" for k, v in rows]])
    print(header)
    print(table)
    if args.write:
        text = RESULTS.read_text()
        section = f"{HEADING}\n\n`python3 dev.py bench waitlist` {header}\n\n{table}\n"
        if HEADING in text:
            before, _, rest = text.partition(HEADING)
            after = rest[rest.find("\n## "):] if "\n## " in rest else ""
            text = before + section + after
        else:
            text = text.rstrip() + "\n\n" + section
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
