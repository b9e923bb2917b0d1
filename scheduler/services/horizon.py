"""The rolling horizon: open-ended phases (boosters) are kept placed a full horizon ahead."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from .. import engine
from ..errors import DomainError
from ..extensions import db
from ..models import Clinic, Enrollment
from ..models.status import BOOKED, CANCELLED, NO_SHOW
from . import outbox, placement, rule_store, snapshot
from .transaction import atomic

log = logging.getLogger(__name__)


def extend_horizons(now: datetime) -> int:
    """Background job: keep open-ended phases placed a full horizon ahead.

    For each booked enrollment whose horizon end is nearer than the configured horizon, the
    engine re-places the plan from the existing sessions (kept as they are) and the new
    sessions are booked. Idempotent: a plan already a full horizon ahead is left alone.
    """
    horizon_days = current_app.config["HORIZON_DAYS"]
    extended = 0
    ids = list(db.session.scalars(select(Enrollment.id).where(Enrollment.status == BOOKED)))
    failures = []
    for enrollment_id in ids:
        try:
            with atomic():
                enrollment = db.session.scalar(
                    select(Enrollment).where(Enrollment.id == enrollment_id).with_for_update())
                if extend_one(enrollment, now, horizon_days):
                    extended += 1
        except DomainError as exc:
            # One plan that cannot grow must not stop every other plan from growing.
            log.warning("enrollment %s: horizon not extended: %s", enrollment_id, exc.message)
            failures.append(enrollment_id)
    if failures:
        log.warning("horizon extension failed for enrollments %s", failures)
    return extended


def extend_one(enrollment: Enrollment, now: datetime, horizon_days: int) -> bool:
    clinic = db.session.get(Clinic, enrollment.clinic_id)
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    target = today + timedelta(days=horizon_days)
    if enrollment.horizon_end and enrollment.horizon_end >= target:
        return False
    rules = rule_store.enrollment_rules(enrollment)
    if all(p.count is not None for p in rules[0].phases):
        enrollment.horizon_end = target
        return False
    calendar = placement.open_calendar(clinic, rules, now=now)
    # Sessions that took or will take place stay fixed; cancelled and missed ones keep their
    # keys reserved (keys are unique per enrollment) but no longer shape the plan.
    existing = placement.without_orphans(sorted(
        [a for a in enrollment.appointments if a.status not in (CANCELLED, NO_SHOW)],
        key=lambda a: a.starts_at))
    reserved = [a.key for a in enrollment.appointments if a.key]
    window_start = snapshot.local_midnight(today, clinic.timezone) - timedelta(days=2)
    window_end = snapshot.local_midnight(target, clinic.timezone) + timedelta(days=2)
    practice = calendar.practice(
        patient_id=enrollment.patient_id, window_start=window_start, window_end=window_end,
        ignore_appointment_ids=frozenset(a.id for a in existing))
    engine_enr = calendar.enrollment(
        practice, patient_id=enrollment.patient_id, start_on=enrollment.start_on,
        availability=enrollment.availability, preferences=enrollment.preferences,
        horizon_end=target)
    fixed = engine.Plan(tuple(snapshot.appointment_to_placed(a) for a in existing))
    try:
        plan = engine.extend_plan(practice, engine_enr, fixed, not_before=today,
                                  reserved_keys=reserved)
    except (engine.PlacementError, ValueError) as exc:
        reason = exc.explanation.message if isinstance(exc, engine.PlacementError) else str(exc)
        log.warning("enrollment %s: cannot extend horizon: %s", enrollment.id, reason)
        return False
    calendar.prove(plan.sessions, complete=False)
    known = {a.key for a in existing}
    created = placement.store_new(enrollment, [s for s in plan.sessions if s.key not in known],
                                  status=BOOKED)
    outbox.appointments_changed(created, outbox.APPOINTMENT_CREATED)
    enrollment.horizon_end = target
    return any(s.key not in known for s in plan.sessions)
