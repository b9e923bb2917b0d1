"""Moving one session of a plan; later sessions move only as far as the plan's rules need."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from .. import engine
from ..errors import Conflict, Invalid
from ..extensions import db
from ..models import Appointment, Clinic, Enrollment
from ..models.status import CHECKED_IN, COMPLETED, LIVE
from ..models.types import utcnow
from . import holds, outbox, placement, rule_store, snapshot
from .access import BOOK, Principal
from .appointments import get_appointment
from .enrollments import MAX_START_AHEAD_DAYS


def reschedule(who: Principal, appointment_id: int, *, start: datetime | None = None,
               not_before: datetime | None = None) -> list[Appointment]:
    """Move one session; later ones move only as far as the rules need. Returns all moved."""
    who.require(BOOK)
    return placement.retrying(lambda: _reschedule(who, appointment_id, start, not_before),
                              "reschedule")


def _reschedule(who, appointment_id, start, not_before) -> list[Appointment]:
    appt = get_appointment(who, appointment_id)
    if appt.enrollment_id is not None:
        db.session.execute(select(Enrollment.id).where(Enrollment.id == appt.enrollment_id)
                           .with_for_update())
    holds.release_expired_holds(utcnow())  # an expired hold is not movable any more
    db.session.refresh(appt)
    if appt.status not in LIVE:
        raise Conflict(f"appointment {appointment_id} is {appt.status}; only held or booked "
                       "appointments can move", details={"status": appt.status})
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.id == appt.enrollment_id)
                                   .with_for_update())
    if enrollment is None:
        raise Conflict("this appointment is not part of a plan")
    clinic = db.session.get(Clinic, enrollment.clinic_id)
    calendar = placement.open_calendar(clinic, rule_store.enrollment_rules(enrollment))
    if start is not None and start < calendar.now:
        raise Invalid.field("start", "must not be in the past")
    latest = calendar.now + timedelta(days=MAX_START_AHEAD_DAYS)
    for field, moment in (("start", start), ("not_before", not_before)):
        if moment is not None and moment > latest:
            raise Invalid.field(field, f"must be within {MAX_START_AHEAD_DAYS} days from now")
    if not_before is not None:
        not_before = max(not_before, calendar.now)
    movable = [a for a in enrollment.appointments if a.status in LIVE]
    kept = [a for a in enrollment.appointments if a.status in (CHECKED_IN, COMPLETED)]
    plan_appts = placement.without_orphans(sorted(kept + movable, key=lambda a: a.starts_at))
    window_start, window_end = snapshot.plan_window(enrollment.start_on, clinic.timezone)
    window_start = min(window_start, plan_appts[0].starts_at - timedelta(days=2))
    # The plan's own allocations are left out: moving it, its old slots are free to it.
    practice = calendar.practice(
        patient_id=enrollment.patient_id, window_start=window_start, window_end=window_end,
        ignore_appointment_ids=frozenset(a.id for a in plan_appts))
    engine_plan = engine.Plan(tuple(snapshot.appointment_to_placed(a) for a in plan_appts))
    engine_enr = calendar.enrollment(
        practice, patient_id=enrollment.patient_id, start_on=enrollment.start_on,
        availability=enrollment.availability, preferences=enrollment.preferences,
        horizon_end=enrollment.horizon_end)
    try:
        result = engine.reschedule(practice, engine_enr, engine_plan, appt.key, start=start,
                                   not_before=not_before)
    except engine.PlacementError as exc:
        explanation = exc.explanation.at_clinic(clinic.name, clinic.timezone).to_dict()
        raise Conflict(f"It cannot move there. {explanation['message']}",
                       details={"reason": "no_move_fits", **explanation}) from None
    calendar.prove(result.plan.sessions, complete=False)
    by_key = {a.key: a for a in plan_appts}
    changed = [by_key[s.key] for s in result.changed]
    if any(a.status not in LIVE for a in changed):
        raise Conflict("moving it would move a session that already took place")
    placement.store_moves(changed, result.changed)
    outbox.appointments_changed(changed, outbox.APPOINTMENT_UPDATED)
    return changed
