"""The waitlist: booked enrollments that would come sooner, served first come, first served."""

from __future__ import annotations

from sqlalchemy import select

from ..errors import Conflict, NotFound
from ..extensions import db
from ..models import Enrollment, WaitlistEntry
from ..models.status import BOOKED
from ..models.types import utcnow
from . import releases
from .access import BOOK, READ, Principal
from .appointments import visible_clinic
from .enrollments import locked_enrollment
from .transaction import atomic

DEFAULT_MIN_GAIN_DAYS = 1


def serving_order(clinic_id: int):
    """The entries of a clinic in the order they are served (booked enrollments only)."""
    return (select(WaitlistEntry)
            .join(Enrollment, Enrollment.id == WaitlistEntry.enrollment_id)
            .where(WaitlistEntry.clinic_id == clinic_id, Enrollment.status == BOOKED)
            .order_by(WaitlistEntry.joined_at, WaitlistEntry.id))


def list_waitlist(who: Principal, clinic_id: int) -> list[WaitlistEntry]:
    who.require(READ)
    visible_clinic(who, clinic_id, field="clinic_id")
    entries = list(db.session.scalars(serving_order(clinic_id)))
    for position, entry in enumerate(entries, start=1):
        entry.position = position  # transient, for the response
    return entries


def join(who: Principal, enrollment_id: int, min_gain_days: int | None) -> tuple[WaitlistEntry,
                                                                                  bool]:
    """Put a booked enrollment on its clinic's waitlist; (entry, created).

    Joining again keeps the place in line (and changes ``min_gain_days`` when given). A join is
    matched like a release: time that is already free goes to the new entry within seconds.
    """
    who.require(BOOK)
    with atomic():
        enrollment = locked_enrollment(who, enrollment_id)
        if enrollment.status != BOOKED:
            raise Conflict(f"enrollment {enrollment_id} is {enrollment.status}; only a booked "
                           "enrollment joins the waitlist", details={"status": enrollment.status})
        entry = db.session.scalar(select(WaitlistEntry)
                                  .where(WaitlistEntry.enrollment_id == enrollment_id))
        created = entry is None
        if created:
            entry = WaitlistEntry(enrollment_id=enrollment.id, patient_id=enrollment.patient_id,
                                  clinic_id=enrollment.clinic_id, joined_at=utcnow(),
                                  min_gain_days=min_gain_days or DEFAULT_MIN_GAIN_DAYS)
            db.session.add(entry)
        elif min_gain_days is not None:
            entry.min_gain_days = min_gain_days
        entry.passed_generation = None
        db.session.flush()
        releases.capacity_released(enrollment.clinic_id)
        entry.position = _position(entry)
    return entry, created


def leave(who: Principal, enrollment_id: int) -> None:
    """Take the enrollment off the waitlist; its open offer (if any) is withdrawn."""
    from . import offers

    who.require(BOOK)
    with atomic():
        enrollment = locked_enrollment(who, enrollment_id)
        entry = db.session.scalar(select(WaitlistEntry)
                                  .where(WaitlistEntry.enrollment_id == enrollment.id))
        if entry is None:
            raise NotFound(f"enrollment {enrollment_id} is not on the waitlist")
        offers.withdraw_open_offer(enrollment.id)
        db.session.delete(entry)


def _position(entry: WaitlistEntry) -> int:
    ids = list(db.session.scalars(serving_order(entry.clinic_id).with_only_columns(
        WaitlistEntry.id)))
    return ids.index(entry.id) + 1 if entry.id in ids else len(ids) + 1
