"""The appointment state machine (which status may follow which, what each change frees) and
the front desk's lifecycle actions on one appointment.

    held ──confirm──▶ booked ──check-in──▶ checked_in ──complete──▶ completed
      │                 │ └──no-show──▶ no_show
      └──cancel──▶ cancelled ◀──cancel──┘
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select, update

from ..errors import Conflict
from ..extensions import db
from ..models import Appointment, Clinic, Enrollment
from ..models.status import (
    BOOKED,
    CANCELLED,
    CHECKED_IN,
    COMPLETED,
    HELD,
    LIVE,
    NO_SHOW,
    RELEASED,
)
from ..models.types import utcnow
from ..rules.wording import quantity
from . import outbox
from .access import BOOK, Principal
from .appointments import get_appointment
from .proof import plan_violations, violation_report
from .releases import capacity_released
from .transaction import atomic

TRANSITIONS: dict[str, frozenset[str]] = {
    HELD: frozenset({BOOKED, CANCELLED}),
    BOOKED: frozenset({CHECKED_IN, NO_SHOW, CANCELLED}),
    CHECKED_IN: frozenset({COMPLETED}),
    COMPLETED: frozenset(),
    CANCELLED: frozenset(),
    NO_SHOW: frozenset(),
}


def transition(appt: Appointment, new_status: str) -> None:
    if new_status not in TRANSITIONS[appt.status]:
        allowed = ", ".join(sorted(TRANSITIONS[appt.status])) or "nothing"
        raise Conflict(
            f"appointment {appt.id} is {appt.status}; it cannot become {new_status} "
            f"(from {appt.status} it may become: {allowed})",
            details={"status": appt.status, "requested": new_status})
    old_status, appt.status = appt.status, new_status
    # Subscribers see status changes (check-in is internal, but cancellation is not).
    appt.sequence += 1
    appt.updated_at = utcnow()
    if new_status in RELEASED:
        for allocation in appt.allocations:
            allocation.active = False
        if appt.ends_at > appt.updated_at:
            # Future time came free: the waitlist may take it (SPEC 9).
            capacity_released(appt.clinic_id, appt.updated_at)
    outbox.appointment_status_changed(appt, old_status, new_status)


def change_status(who: Principal, appointment_id: int, action: str, *,
                  dose_at: datetime | None = None,
                  discharged_at: datetime | None = None) -> tuple[Appointment, list]:
    """check-in, complete, no-show or cancel one appointment; returns it and plan warnings.

    Completing a dose session may record when the dose was given and the patient left (the
    route's monitoring rules, see ``rems``)."""
    from . import rems

    who.require(BOOK)
    with atomic():
        appt = get_appointment(who, appointment_id)
        if appt.enrollment_id is not None:
            # Same lock order as confirm, cancel and reschedule: the plan first, then its rows.
            db.session.execute(select(Enrollment.id).where(Enrollment.id == appt.enrollment_id)
                               .with_for_update())
        db.session.refresh(appt, with_for_update=True)
        if action == CHECKED_IN and appt.status == BOOKED:
            _refuse_early_check_in(appt)
            rems.refuse_unenrolled_check_in(appt)
        transition(appt, action)
        if action == COMPLETED:
            rems.record_monitoring(appt, dose_at, discharged_at)
        if action == CANCELLED:
            # A follow-up exists for its dose: it goes with it (therapy after a no-show stays).
            for follow in _follow_ups_of(appt):
                if follow.status in LIVE:
                    transition(follow, CANCELLED)
        warnings = _plan_warnings(appt) if action == CANCELLED else []
    return appt, warnings


def _refuse_early_check_in(appt: Appointment) -> None:
    """A check-in months ahead is a slip of the finger: it opens a configured time before."""
    early = timedelta(minutes=current_app.config["CHECKIN_EARLY_MINUTES"])
    zone = ZoneInfo(db.session.get(Clinic, appt.clinic_id).timezone)
    opens_at = (appt.starts_at - early).astimezone(zone)
    if utcnow() < opens_at:
        raise Conflict(
            f"too early to check in: check-in opens "
            f"{quantity(early.total_seconds() / 60, 'minute')} before the appointment, at "
            f"{opens_at:%H:%M} on {opens_at:%a %Y-%m-%d} (clinic time)",
            details={"reason": "check_in_too_early", "opens_at": opens_at.isoformat(),
                     "status": appt.status})


def _follow_ups_of(appt: Appointment) -> list[Appointment]:
    return list(db.session.scalars(select(Appointment).where(
        Appointment.follow_up_of_id == appt.id).with_for_update()))


def _plan_warnings(cancelled: Appointment) -> list[dict]:
    """What the rest of the plan breaks once this session is gone (the desk must move it)."""
    if cancelled.enrollment is None:
        return []
    violations, judged = plan_violations(cancelled.enrollment)
    return violation_report(violations, judged)


def flag_overdue(now: datetime, grace: timedelta) -> int:
    """Background job: mark booked appointments long past their end with no check-in.

    They stay ``booked`` (the front desk decides: completed or no-show) but carry a flag the
    appointment list shows; re-running flags nothing new.
    """
    with atomic():
        result = db.session.execute(
            update(Appointment)
            .where(Appointment.status == BOOKED, Appointment.ends_at <= now - grace,
                   Appointment.overdue_at.is_(None))
            .values(overdue_at=now))
        return result.rowcount or 0
