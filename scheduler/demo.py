"""``flask --app wsgi demo``: a demo practice on the laptop database, then serve it."""

from __future__ import annotations

from datetime import date, time, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .extensions import db
from .models import Clinic, Patient, Room, Shift, StaffMember
from .services import keys

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")

CLINICS = [
    # name, zone, certifications
    ("Back Bay", "America/New_York", ["esketamine_rems"]),
    ("Cherry Creek", "America/Denver", []),
    ("La Jolla", "America/Los_Angeles", ["esketamine_rems"]),
]

ROOMS = [
    ("Infusion 1", ["iv_pump", "vitals_monitor", "recliner"], 1, 15),
    ("Infusion 2", ["iv_pump", "vitals_monitor", "recliner"], 1, 15),
    ("Infusion Bay", ["iv_pump", "vitals_monitor", "recliner"], 3, 10),
    ("Treatment Lounge", ["vitals_monitor", "recliner"], 4, 10),
    ("Consult A", ["consult"], 1, 0),
    ("Therapy Room", ["consult", "therapy"], 1, 5),
]

STAFF = [
    # name, roles, max concurrent patients, daily shift
    ("Dr. M. Okafor", ["prescriber"], 1, ("08:00", "17:00")),
    ("Dr. J. Lindqvist", ["prescriber", "therapist"], 1, ("10:00", "18:00")),
    ("R. Alvarez, RN", ["nurse"], 3, ("07:30", "16:00")),
    ("T. Nguyen, RN", ["nurse"], 3, ("09:30", "18:00")),
    ("S. Patel, CRNA", ["crna", "nurse"], 2, ("08:00", "16:00")),
    ("A. Romero, LMFT", ["therapist"], 1, ("09:00", "18:00")),
    ("K. Brooks", ["front_desk"], 1, ("07:30", "18:00")),
]


def _hhmm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


def seed_demo_practice() -> list[Clinic]:
    """Three clinics in three time zones, each with rooms and a staffed week. Idempotent."""
    existing = list(db.session.scalars(select(Clinic).order_by(Clinic.id)))
    if existing:
        return existing
    clinics = []
    for name, zone, certs in CLINICS:
        clinic = Clinic(
            name=name, timezone=zone, certifications=certs,
            hours={d: [["08:00", "18:00"]] for d in WEEKDAYS} | {"sat": [["09:00", "13:00"]]},
            closures=["2026-12-25", "2027-01-01"],
        )
        db.session.add(clinic)
        db.session.flush()
        for room_name, features, capacity, turnover in ROOMS:
            db.session.add(Room(clinic_id=clinic.id, name=room_name, features=features,
                                capacity=capacity, turnover_minutes=turnover))
        for staff_name, roles, capacity, (start, end) in STAFF:
            member = StaffMember(name=f"{staff_name} ({name})", roles=roles,
                                 max_concurrent_patients=capacity)
            member.shifts = [
                Shift(clinic_id=clinic.id, weekday=d, weekday_index=i, start=_hhmm(start),
                      end=_hhmm(end))
                for i, d in enumerate(WEEKDAYS)
            ]
            db.session.add(member)
        clinics.append(clinic)
    db.session.commit()
    return clinics


PATIENTS = ["Ada L.", "Grace H.", "Alan T.", "Edsger D.", "Barbara L.", "Donald K."]
PLANS = ["iv-depression", "esketamine-label", "iv-chronic-pain", "im-series", "kap"]


def seed_demo_plans(clinics: list[Clinic]) -> int:
    """Load the five built-in templates and book real plans from them in every clinic."""
    from .errors import DomainError
    from .models import Enrollment, ProtocolRecord
    from .services import enrollments, rule_store
    from .services.access import SYSTEM_PRINCIPAL

    if db.session.scalar(select(Enrollment.id).limit(1)) is not None:
        return 0
    protocols = {}
    for code in PLANS:
        existing = db.session.scalar(select(ProtocolRecord).where(ProtocolRecord.code == code))
        protocols[code] = existing.id if existing else \
            rule_store.instantiate_template(SYSTEM_PRINCIPAL, code, {}).protocol_id
    start_on = date.today() + timedelta(days=1)
    booked = 0
    for clinic in clinics:
        for i, name in enumerate(PATIENTS):
            patient = Patient(clinic_id=clinic.id, name=f"{name} ({clinic.name})",
                              external_id=f"DEMO-{clinic.id}-{i + 1}")
            db.session.add(patient)
            db.session.commit()
            code = PLANS[i % len(PLANS)]
            if code == "esketamine-label" and "esketamine_rems" not in clinic.certifications:
                code = "iv-depression"  # only certified clinics may give esketamine
            request = enrollments.EnrollmentRequest(
                patient_id=patient.id, protocol_id=protocols[code], clinic_id=clinic.id,
                start_on=start_on + timedelta(days=i), preferences={},
                availability={"weekdays": list(WEEKDAYS), "earliest": "08:00", "latest": "18:00"})
            try:
                enrollment, _ = enrollments.create_enrollment(SYSTEM_PRINCIPAL, request)
                enrollments.confirm_enrollment(SYSTEM_PRINCIPAL, enrollment.id)
                booked += 1
            except DomainError as exc:
                click.echo(f"  {clinic.name}: {code} for {name} not placed: {exc.message}")
    return booked


DEMO_KEY_LABEL = "demo"


def _refuse_busy_port(host: str, port: int) -> None:
    """Fail before seeding, with the way out, rather than with a traceback after it."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve on {host}:{port}: {exc.strerror or exc}. Is another demo running? "
                f"Stop it, or pick another port: python3 dev.py demo --port {port + 1}") from None


def issue_demo_key() -> str:
    """One live demo key at a time: a rerun revokes the previous one instead of adding another."""
    from .models import ApiKey

    stale = db.session.scalars(select(ApiKey.id).where(
        ApiKey.label == DEMO_KEY_LABEL, ApiKey.revoked_at.is_(None))).all()
    for key_id in stale:
        keys.revoke_key(key_id)
    if stale:
        click.echo(f"Revoked the previous demo key (#{', #'.join(map(str, stale))})")
    _key, secret = keys.create_key("admin", label=DEMO_KEY_LABEL)
    return secret


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=5000, type=int, show_default=True, help="Port to serve on.")
@click.option("--no-serve", is_flag=True, help="Seed and print the key, but do not serve.")
@with_appcontext
def demo_command(host, port, no_serve):
    """Bring the database to the current schema, seed a demo practice, print a key, serve."""
    from flask_migrate import upgrade

    if not no_serve:
        _refuse_busy_port(host, port)
    upgrade()
    clinics = seed_demo_practice()
    plans = seed_demo_plans(clinics)
    if plans:
        click.echo(f"Booked {plans} demo treatment plans from the built-in templates")
    secret = issue_demo_key()
    base = f"http://{host}:{port}"
    click.echo(f"Demo practice: {', '.join(f'{c.name} (#{c.id}, {c.timezone})' for c in clinics)}")
    click.echo(f"API docs: {base}/api/v1/docs")
    click.echo(f"Try: curl -H 'Authorization: Bearer {secret}' {base}/api/v1/clinics")
    click.echo("Admin key:")
    click.echo(secret)
    # End this command's transaction: on SQLite an open one would hold the write lock while
    # the server runs, and every write request would time out waiting for it.
    db.session.remove()
    if not no_serve:
        # Flask ignores app.run() inside a `flask` command; serve with Werkzeug directly.
        from werkzeug.serving import run_simple

        run_simple(host, port, current_app._get_current_object(), threaded=True)
