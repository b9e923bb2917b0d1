"""Holds that run out: a placed plan nobody confirmed in time gives its slots back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..extensions import db
from ..models import Enrollment
from ..models.status import CANCELLED, EXPIRED, HELD
from .lifecycle import transition
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

    return len(expired) + release_expired_offers(now)


def expire_holds(now: datetime) -> int:
    """Background job: expire unconfirmed holds. Idempotent: a second run finds nothing."""
    with atomic():
        return release_expired_holds(now)
