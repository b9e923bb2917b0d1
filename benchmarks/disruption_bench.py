"""Disruption proposals in a busy clinic: how long the one-batch re-plan takes.

    .venv/bin/python -m benchmarks.disruption_bench [--appointments 5000] [--repeat 7]

Seeds one clinic (SQLite file) with booked iv-depression plans through the services until it
holds about ``--appointments`` live appointments, then times POST /disruptions (the proposal:
affected set, batch repair, proof, holds) for three cases, discarding each proposal after:
a nurse out for a day (goal p50 <= 300 ms), the clinic closed for a day (~40 affected,
<= 1 s), a room out for a week (~150 affected, <= 3 s). Prints p50/max, the affected counts and
outcomes, and the independent conflict check after applying the last proposal of each kind.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

WEEK = ("mon", "tue", "wed", "thu", "fri")
TZ = "America/New_York"


def seed(app, appointments: int) -> dict:
    from scheduler.extensions import db
    from scheduler.models import Appointment, Patient
    from scheduler.services import enrollments, practice, rule_store
    from scheduler.services.access import SYSTEM_PRINCIPAL as ADMIN

    with app.app_context():
        clinic = practice.create_clinic(ADMIN, {
            "name": "Busy", "timezone": TZ, "hours": {d: [["07:00", "19:00"]] for d in WEEK},
            "closures": [], "certifications": ["esketamine_rems"]})
        rooms = [practice.create_room(ADMIN, clinic.id, {
            "name": f"Infusion {i}", "features": ["iv_pump", "vitals_monitor", "recliner"],
            "capacity": 1, "turnover_minutes": 15}) for i in range(10)]
        rooms += [practice.create_room(ADMIN, clinic.id, {
            "name": f"Consult {i}", "features": ["consult", "therapy"], "capacity": 1,
            "turnover_minutes": 0}) for i in range(4)]
        shifts = [{"clinic_id": clinic.id, "weekday": d, "start": clock(7), "end": clock(19)}
                  for d in WEEK]
        staff = [practice.create_staff(ADMIN, {"name": f"{role} {i}", "roles": [role],
                                               "max_concurrent_patients": load,
                                               "shifts": shifts})
                 for role, count, load in (("nurse", 10, 2), ("prescriber", 4, 1),
                                           ("therapist", 4, 1)) for i in range(count)]
        protocol = rule_store.instantiate_template(ADMIN, "iv-depression", {}).protocol_id
        ids = {"clinic": clinic.id, "rooms": [r.id for r in rooms[:10]],
               "nurses": [s.id for s in staff if "nurse" in s.roles]}
        start = date(2027, 3, 1)
        n = 0
        while db.session.scalar(sa.select(sa.func.count(Appointment.id))) < appointments:
            patient = Patient(clinic_id=clinic.id, name=f"P{n}", preferences={})
            db.session.add(patient)
            db.session.commit()
            request = enrollments.EnrollmentRequest(
                patient_id=patient.id, protocol_id=protocol, clinic_id=clinic.id,
                start_on=start + timedelta(days=n % 120), availability={}, preferences={})
            try:
                enrollment, _ = enrollments.create_enrollment(ADMIN, request)
                enrollments.confirm_enrollment(ADMIN, enrollment.id)
            except Exception as exc:  # a full day: the next start date will do
                print(f"  patient {n}: not placed ({exc})")
            n += 1
        ids["appointments"] = db.session.scalar(sa.select(sa.func.count(Appointment.id)))
        ids["plans"] = n
        return ids


def existing(app) -> dict:
    from scheduler.extensions import db
    from scheduler.models import Appointment, Clinic, Enrollment, Room, StaffMember

    with app.app_context():
        clinic = db.session.scalar(sa.select(Clinic.id).order_by(Clinic.id))
        return {"clinic": clinic,
                "rooms": list(db.session.scalars(sa.select(Room.id).where(
                    Room.name.like("Infusion%")))),
                "nurses": [m.id for m in db.session.scalars(sa.select(StaffMember))
                           if "nurse" in m.roles],
                "appointments": db.session.scalar(sa.select(sa.func.count(Appointment.id))),
                "plans": db.session.scalar(sa.select(sa.func.count(Enrollment.id)))}


def busiest(app, ids, kind: str) -> tuple[dict, int]:
    """The disruption body hitting the most sessions of its kind on one weekday of April."""
    from scheduler.extensions import db
    from scheduler.models import Allocation, Appointment

    zone = ZoneInfo(TZ)
    best, best_count = None, -1
    with app.app_context():
        for offset in range(0, 21):
            day = date(2027, 4, 5) + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            start = datetime.combine(day, clock(0), tzinfo=zone)
            days = 7 if kind == "room_closure" else 1
            end = datetime.combine(day + timedelta(days=days), clock(0), tzinfo=zone)
            candidates = {"staff_absence": [("staff", r) for r in ids["nurses"]],
                          "room_closure": [("room", r) for r in ids["rooms"]],
                          "clinic_closure": [(None, ids["clinic"])]}[kind]
            for rtype, rid in candidates:
                query = sa.select(sa.func.count(sa.distinct(Appointment.id))).where(
                    Appointment.status == "booked", Appointment.starts_at < end,
                    Appointment.ends_at > start)
                if rtype:
                    query = query.where(Appointment.id.in_(sa.select(Allocation.appointment_id)
                                                           .where(Allocation.resource_type == rtype,
                                                                  Allocation.resource_id == rid)))
                else:
                    query = query.where(Appointment.clinic_id == rid)
                count = db.session.scalar(query)
                if count > best_count:
                    field = {"staff": "staff_id", "room": "room_id", None: "clinic_id"}[rtype]
                    best = {"kind": kind, field: rid, "start": start, "end": end,
                            "reason": "benchmark"}
                    best_count = count
    return best, best_count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appointments", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--exact-ms", type=int, default=None,
                        help="bound of the exact second opinion (default: the setting, 300; "
                             "0 turns it off)")
    parser.add_argument("--compare-exact", action="store_true",
                        help="alternate proposals with the exact second opinion off and on")
    parser.add_argument("--database", type=Path, help="a SQLite file seeded by an earlier run "
                                                      "(kept under /tmp): skip the seeding")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="regimen-disruption-bench-"))
    path = args.database or workdir / "bench.db"
    os.environ.setdefault("REGIMEN_ENV", "testing")
    from flask_migrate import upgrade

    from scheduler import create_app
    from scheduler.services import disruptions
    from scheduler.services.access import SYSTEM_PRINCIPAL as ADMIN
    from tests.support.checker import calendar_problems

    overrides = {} if args.exact_ms is None else {"DISRUPTION_EXACT_MS": args.exact_ms}
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", HOLD_MINUTES=60,
                     **overrides)
    print(f"exact second opinion bound: {app.config['DISRUPTION_EXACT_MS']} ms")
    with app.app_context():
        upgrade()
    began = time.perf_counter()
    ids = seed(app, args.appointments) if args.database is None else existing(app)
    print(f"database: {path}")
    print(f"seeded {ids['appointments']} appointments ({ids['plans']} patients) in "
          f"{time.perf_counter() - began:.0f} s; load average {os.getloadavg()[0]:.1f}")
    goals = {"staff_absence": 0.3, "clinic_closure": 1.0, "room_closure": 3.0}
    labels = {"staff_absence": "nurse out for a day", "clinic_closure": "clinic closed a day",
              "room_closure": "room out for a week"}
    for kind, goal in goals.items():
        body, expected = busiest(app, ids, kind)
        bound = app.config["DISRUPTION_EXACT_MS"]
        # Alternating the exact second opinion off and on (same state each time: each
        # proposal is discarded) gives its cost and what it changed within one run.
        modes = [bound, 0] if args.compare_exact and bound else [bound]
        runs = {m: {"times": [], "cpu": [], "solvers": Counter(), "summary": None}
                for m in modes}
        last = None
        for i in range(args.repeat * len(modes)):
            mode = modes[i % len(modes)]
            app.config["DISRUPTION_EXACT_MS"] = mode
            run = runs[mode]
            with app.app_context():
                t0, c0 = time.perf_counter(), time.process_time()
                proposal = disruptions.propose(ADMIN, body)
                run["times"].append(time.perf_counter() - t0)
                run["cpu"].append(time.process_time() - c0)
                run["summary"] = dict(proposal.summary)
                last = (proposal.id, dict(proposal.summary),
                        Counter(c["outcome"] for c in proposal.changes))
                run["solvers"][proposal.summary.get("solver")] += 1
                if i < args.repeat * len(modes) - 1:
                    disruptions.discard(ADMIN, proposal.id)
        app.config["DISRUPTION_EXACT_MS"] = bound
        with app.app_context():
            from scheduler.extensions import db

            disruptions.apply(ADMIN, last[0])
            with db.engine.connect() as conn:
                problems = calendar_problems(conn)
        for mode in modes:
            run = runs[mode]
            p50 = statistics.median(run["times"])
            summary = {k: v for k, v in run["summary"].items() if k != "solver"}
            print(f"{labels[kind]} (exact bound {mode} ms): affected {summary['affected']} "
                  f"(query: {expected}), last {summary}; answered by {dict(run['solvers'])}; "
                  f"proposal p50 {p50 * 1000:.0f} ms, max {max(run['times']) * 1000:.0f} ms, "
                  f"CPU p50 {statistics.median(run['cpu']) * 1000:.0f} ms "
                  f"(goal <= {goal * 1000:.0f} ms: {'met' if p50 <= goal else 'NOT met'}); "
                  f"load average {os.getloadavg()[0]:.1f}")
        print(f"  after applying the last proposal: {len(problems)} conflicts")

if __name__ == "__main__":
    main()
