"""The appointment state machine (which status may follow which, what each change frees) and
the front desk's lifecycle actions on one appointment.

    held ──confirm──▶ booked ──check-in──▶ checked_in ──complete──▶ completed
      │                 │ └──no-show──▶ no_show
      └──cancel──▶ cancelled ◀──cancel──┘
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..errors import Conflict
from ..extensions import db
from ..models import Appointment, Enrollment
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
    appt.status = new_status
    # Subscribers see status changes (check-in is internal, but cancellation is not).
    appt.sequence += 1
    appt.updated_at = utcnow()
    if new_status in RELEASED:
        for allocation in appt.allocations:
            allocation.active = False
        if appt.ends_at > appt.updated_at:
            # Future time came free: the waitlist may take it (SPEC 9).
            capacity_released(appt.clinic_id, appt.updated_at)


def change_status(who: Principal, appointment_id: int, action: str) -> tuple[Appointment, list]:
    """check-in, complete, no-show or cancel one appointment; returns it and plan warnings."""
    who.require(BOOK)
    with atomic():
        appt = get_appointment(who, appointment_id)
        if appt.enrollment_id is not None:
            # Same lock order as confirm, cancel and reschedule: the plan first, then its rows.
            db.session.execute(select(Enrollment.id).where(Enrollment.id == appt.enrollment_id)
                               .with_for_update())
        db.session.refresh(appt, with_for_update=True)
        transition(appt, action)
        if action == CANCELLED:
            # A follow-up exists for its dose: it goes with it (therapy after a no-show stays).
            for follow in _follow_ups_of(appt):
                if follow.status in LIVE:
                    transition(follow, CANCELLED)
        warnings = _plan_warnings(appt) if action == CANCELLED else []
    return appt, warnings


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
