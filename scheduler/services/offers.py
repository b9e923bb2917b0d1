"""Waitlist offers: a held earlier plan, accepted (swapped in whole), declined or left to expire.

An offer's sessions are ``held`` appointments outside the plan (no enrollment, no key) whose
allocations hold their slots like any hold: the exclusion constraint (PostgreSQL) or the
serialised writers (SQLite) let one holder have a slot at a time. Every way an offer ends
without being accepted (declined, expired, withdrawn) cancels those rows, which frees the time
and records a capacity release, so the next in line is matched within seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from ..errors import Conflict, Invalid, NotFound
from ..extensions import db
from ..models import Appointment, Enrollment, Offer, WaitlistEntry
from ..models.status import (
    BOOKED,
    CANCELLED,
    HELD,
    LIVE,
    OFFER_ACCEPTED,
    OFFER_DECLINED,
    OFFER_EXPIRED,
    OFFER_OPEN,
    OFFER_STATUSES,
    OFFER_WITHDRAWN,
)
from ..models.types import utcnow
from . import releases
from .access import BOOK, READ, Principal
from .appointments import visible_clinic
from .lifecycle import transition
from .pagination import Page, paginate
from .proof import plan_violations
from .transaction import atomic

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- the hook for webhooks

def offer_created(offer: Offer) -> None:
    """The ``offer.created`` event (SPEC 10), written in the transaction that makes the offer
    (an SMS integration texts the patient)."""
    from . import outbox

    outbox.emit(outbox.OFFER_CREATED, [offer.clinic_id], {
        "id": offer.id, "enrollment_id": offer.enrollment_id, "patient_id": offer.patient_id,
        "clinic_id": offer.clinic_id, "status": offer.status, "gain_days": offer.gain_days,
        "expires_at": offer.expires_at.isoformat()},
        ordering_key=f"enrollment:{offer.enrollment_id}")
    log.info("offer %s made to enrollment %s (gain %s days, expires %s)", offer.id,
             offer.enrollment_id, offer.gain_days, offer.expires_at.isoformat())


# ---------------------------------------------------------------- reading

def get_offer(who: Principal, offer_id: int) -> Offer:
    who.require(READ)
    offer = db.session.get(Offer, offer_id)
    if offer is None or not who.sees(offer.clinic_id):
        raise NotFound(f"offer {offer_id} not found")
    return offer


def list_offers(who: Principal, *, page: int, page_size: int, clinic_id: int | None = None,
                status: list[str] | None = None) -> Page:
    who.require(READ)
    query = select(Offer).order_by(Offer.created_at, Offer.id)
    if clinic_id is not None:
        visible_clinic(who, clinic_id, field="clinic_id")
        query = query.where(Offer.clinic_id == clinic_id)
    elif who.scoped:
        query = query.where(Offer.clinic_id.in_(who.clinic_ids))
    if status:
        unknown = [s for s in status if s not in OFFER_STATUSES]
        if unknown:
            raise Invalid.field("status", f"unknown status {unknown[0]!r}; one of "
                                          f"{', '.join(OFFER_STATUSES)}")
        query = query.where(Offer.status.in_(status))
    return paginate(query, page, page_size)


def offered_appointments(offer: Offer) -> list[Appointment]:
    return [link.appointment for link in offer.sessions]


# ---------------------------------------------------------------- answering

def accept(who: Principal, offer_id: int) -> Offer:
    """Swap the plan's future sessions for the offered ones, all or nothing (one transaction):
    the offered become booked and join the plan under their keys, the replaced are cancelled
    (their slots free, which may make the next offer), and the enrollment leaves the waitlist.
    """
    who.require(BOOK)
    with atomic():
        offer = _locked(who, offer_id)
        now = utcnow()
        _require_open(offer)
        if offer.expires_at <= now:
            end_offer(offer, OFFER_EXPIRED, now)
            db.session.commit()
            raise Conflict(f"offer {offer_id} expired at {offer.expires_at.isoformat()}",
                           details={"status": OFFER_EXPIRED})
        stale = staleness(offer, now)
        if stale:
            end_offer(offer, OFFER_WITHDRAWN, now)
            db.session.commit()
            raise Conflict(f"offer {offer_id} was withdrawn: {stale}",
                           details={"status": OFFER_WITHDRAWN, "reason": stale})
        enrollment = db.session.get(Enrollment, offer.enrollment_id)
        replaced = _replaced(offer)
        for appt in replaced:
            transition(appt, CANCELLED)
            # Keys are unique per plan: the replaced row gives its key to the offered one.
            appt.key = f"{appt.key}@offer-{offer.id}" if appt.key else None
        db.session.flush()
        for link in offer.sessions:
            appt = link.appointment
            appt.enrollment_id = enrollment.id
            appt.key = link.key
            transition(appt, BOOKED)
        db.session.flush()
        db.session.expire(enrollment, ["appointments"])
        violations, _ = plan_violations(enrollment)
        if violations:
            # Proven when offered and nothing of it changed since: this would be our bug.
            raise Conflict("the offered plan no longer satisfies its rules",
                           details={"reason": "rule_violation",
                                    "violations": [v.message for v in violations]})
        entry = db.session.scalar(select(WaitlistEntry)
                                  .where(WaitlistEntry.enrollment_id == enrollment.id))
        if entry is not None:
            db.session.delete(entry)
        offer.status, offer.decided_at = OFFER_ACCEPTED, now
    return offer


def decline(who: Principal, offer_id: int) -> Offer:
    """Leave the offer: its slots free and go to the next in line; the enrollment keeps its
    place on the waitlist for a later release."""
    who.require(BOOK)
    with atomic():
        offer = _locked(who, offer_id)
        _require_open(offer)
        end_offer(offer, OFFER_DECLINED, utcnow())
    return offer


# ---------------------------------------------------------------- ending offers

def end_offer(offer: Offer, status: str, now: datetime) -> None:
    """Close an open offer without accepting it: cancel its held sessions (freeing their time,
    a capacity release). Declined and expired offers pass the time on: the entry skips the
    releases seen so far, so the next in line gets it."""
    for appt in offered_appointments(offer):
        if appt.status == HELD:
            transition(appt, CANCELLED)
    offer.status, offer.decided_at = status, now
    db.session.flush()
    if status in (OFFER_DECLINED, OFFER_EXPIRED):
        entry = db.session.scalar(select(WaitlistEntry)
                                  .where(WaitlistEntry.enrollment_id == offer.enrollment_id))
        if entry is not None:
            entry.passed_generation = releases.generation(offer.clinic_id)


def withdraw_open_offer(enrollment_id: int) -> Offer | None:
    offer = db.session.scalar(select(Offer).where(Offer.enrollment_id == enrollment_id,
                                                  Offer.status == OFFER_OPEN).with_for_update())
    if offer is not None:
        end_offer(offer, OFFER_WITHDRAWN, utcnow())
    return offer


def release_expired_offers(now: datetime, clinic_id: int | None = None) -> int:
    """Expire open offers past ``expires_at`` (inside the caller's transaction)."""
    query = select(Offer).where(Offer.status == OFFER_OPEN, Offer.expires_at <= now)
    if clinic_id is not None:
        query = query.where(Offer.clinic_id == clinic_id)
    expired = list(db.session.scalars(query.with_for_update(skip_locked=True)))
    for offer in expired:
        end_offer(offer, OFFER_EXPIRED, now)
    return len(expired)


def expire_offers(now: datetime) -> int:
    """Background job: unanswered offers expire; their time goes to the next in line."""
    with atomic():
        return release_expired_offers(now)


def withdraw_stale_offers(clinic_id: int, now: datetime) -> int:
    """Withdraw the clinic's open offers whose plan changed since they were made."""
    open_offers = list(db.session.scalars(
        select(Offer).where(Offer.clinic_id == clinic_id, Offer.status == OFFER_OPEN)
        .with_for_update(skip_locked=True)))
    withdrawn = 0
    for offer in open_offers:
        reason = staleness(offer, now)
        if reason:
            log.info("offer %s withdrawn: %s", offer.id, reason)
            end_offer(offer, OFFER_WITHDRAWN, now)
            withdrawn += 1
    return withdrawn


def staleness(offer: Offer, now: datetime) -> str | None:
    """Why the offer can no longer be taken as made, or None."""
    enrollment = db.session.get(Enrollment, offer.enrollment_id)
    if enrollment is None or enrollment.status != BOOKED:
        return "the enrollment is no longer booked"
    on_list = db.session.scalar(select(WaitlistEntry.id)
                                .where(WaitlistEntry.enrollment_id == enrollment.id))
    if on_list is None:
        return "the enrollment left the waitlist"
    seen = {r["id"]: r["sequence"] for r in offer.replaces}
    for appt in _replaced(offer):
        if appt.status not in LIVE or appt.sequence != seen[appt.id]:
            return f"replaced appointment {appt.id} changed since the offer was made"
        if appt.starts_at <= now:
            return f"replaced appointment {appt.id} has started"
    live_now = {a.id for a in enrollment.appointments if a.status in LIVE}
    if live_now - set(seen):
        return "the plan gained sessions since the offer was made"
    for appt in offered_appointments(offer):
        if appt.status != HELD:
            return f"offered appointment {appt.id} is {appt.status}"
        if appt.starts_at <= now:
            return f"offered appointment {appt.id} is in the past"
    return None


def _replaced(offer: Offer) -> list[Appointment]:
    ids = offer.replaced_ids
    rows = list(db.session.scalars(select(Appointment).where(Appointment.id.in_(ids))
                                   .with_for_update()))
    return sorted(rows, key=lambda a: ids.index(a.id))


def _locked(who: Principal, offer_id: int) -> Offer:
    """The plan first, then the offer (the lock order of confirm, cancel and reschedule)."""
    offer = get_offer(who, offer_id)
    db.session.execute(select(Enrollment.id).where(Enrollment.id == offer.enrollment_id)
                       .with_for_update())
    return db.session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update()
                             .execution_options(populate_existing=True))


def _require_open(offer: Offer) -> None:
    if offer.status != OFFER_OPEN:
        raise Conflict(f"offer {offer.id} is {offer.status}; only an open offer can be "
                       "answered", details={"status": offer.status})
