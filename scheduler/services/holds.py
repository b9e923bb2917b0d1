"""Holds that run out: a placed plan or a disruption proposal nobody confirmed in time gives
its slots back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..extensions import db
from ..models import Disruption, Enrollment
from ..models.disruption import APPLIED, PROPOSED
from ..models.status import CANCELLED, EXPIRED, HELD
from .lifecycle import transition
from .releases import capacity_released
from .transaction import atomic


def expire(enrollment: Enrollment) -> None:
    for appt in enrollment.appointments:
        if appt.status == HELD:
            transition(appt, CANCELLED)
    enrollment.status = EXPIRED


def release_expired_holds(now: datetime) -> int:
    """Free the slots of holds nobody confirmed in time (inside the caller's transaction)."""
    expired = list(db.session.scalars(
        select(Enrollment).where(Enrollment.status == HELD, Enrollment.hold_expires_at <= now)
        .with_for_update(skip_locked=True)))
    for enrollment in expired:
        expire(enrollment)
    if expired:
        db.session.flush()
    from .offers import release_expired_offers  # offers build on holds, not the reverse

    return len(expired) + release_expired_proposals(now) + release_expired_offers(now)


def release_disruption(disruption: Disruption, status: str, now: datetime) -> None:
    """A disruption proposal gives back the slots it held (discarded, expired or applied)."""
    for hold in list(disruption.holds):
        db.session.delete(hold)
    disruption.status = status
    disruption.resolved_at = now
    if status != EXPIRED:
        disruption.hold_expires_at = None
    db.session.flush()
    if status != APPLIED:
        # What the proposal kept from new bookings is bookable again: the waitlist may take it.
        for clinic_id in disruption.clinic_ids:
            capacity_released(clinic_id, now)


def release_expired_proposals(now: datetime) -> int:
    """Disruption proposals nobody applied in time: their held slots are free again."""
    expired = list(db.session.scalars(
        select(Disruption).where(Disruption.status == PROPOSED,
                                 Disruption.hold_expires_at <= now)
        .with_for_update(skip_locked=True)))
    for disruption in expired:
        release_disruption(disruption, EXPIRED, now)
    return len(expired)


def expire_holds(now: datetime) -> int:
    """Background job: expire unconfirmed holds. Idempotent: a second run finds nothing."""
    with atomic():
        return release_expired_holds(now)
