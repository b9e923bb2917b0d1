"""iCal subscriptions: who may make one, for what, and the secret that opens it.

A feed URL is a bearer credential that outlives the request that made it and ends up in
calendar apps and proxy logs, so:

- the token carries 256 random bits and is stored only as its SHA-256 hash;
- the scope object must be visible to the key: another clinic's room is refused exactly like a
  missing one (422 naming ``scope_id``, as for every reference in a request body);
- a feed made by a clinic-scoped key shows that clinic's appointments only (``Feed.clinic_id``),
  even for a nurse or patient who also appears at other clinics;
- making, deleting and rotating feeds needs the ``book`` permission (front desk and above):
  viewers only read. ``details`` feeds (patient names) need nothing more than that, because the
  feed is walled to clinics the key may read in full anyway; listing needs ``read``.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import Feed
from ..models.types import utcnow
from . import practice
from .access import BOOK, READ, Principal
from .pagination import Page, paginate
from .transaction import atomic

TOKEN_PREFIX = "rgf_"
# token_urlsafe(32): 32 random bytes = 256 bits, 43 URL-safe characters.
TOKEN_LENGTH = len(TOKEN_PREFIX) + 43


def hash_token(token: str) -> str:
    # 256 random bits: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_feed(who: Principal, data: dict) -> tuple[Feed, str]:
    """Return the feed and its token; the token is never stored and cannot be shown again."""
    who.require(BOOK)
    with atomic():
        try:
            clinic_id = _tenant_clinic(who, data["scope"], data["scope_id"],
                                       data.get("clinic_id"))
        except NotFound:
            raise Invalid.field("scope_id", f"{data['scope']} {data['scope_id']} does not "
                                            "exist") from None
        token = _new_token()
        feed = Feed(scope=data["scope"], scope_id=data["scope_id"], clinic_id=clinic_id,
                    privacy=data["privacy"], token_hash=hash_token(token),
                    created_by_key_id=who.api_key_id)
        db.session.add(feed)
        db.session.flush()
    return feed, token


def list_feeds(who: Principal, page: int, page_size: int, scope: str | None = None,
               scope_id: int | None = None) -> Page:
    who.require(READ)
    query = select(Feed).where(Feed.revoked_at.is_(None)).order_by(Feed.id)
    if who.scoped:
        # Unrestricted (NULL clinic) feeds follow a person across clinics: not a tenant's.
        query = query.where(Feed.clinic_id.in_(who.clinic_ids))
    if scope is not None:
        query = query.where(Feed.scope == scope)
    if scope_id is not None:
        query = query.where(Feed.scope_id == scope_id)
    return paginate(query, page, page_size)


def get_feed(who: Principal, feed_id: int) -> Feed:
    who.require(READ)
    feed = db.session.get(Feed, feed_id)
    if feed is None or not feed.active or not _visible(who, feed):
        raise NotFound(f"feed {feed_id} not found")
    return feed


def delete_feed(who: Principal, feed_id: int) -> None:
    """Revoke: the row stays (audit trail), the URL answers 404 from now on."""
    who.require(BOOK)
    with atomic():
        get_feed(who, feed_id).revoked_at = utcnow()


def rotate_feed(who: Principal, feed_id: int) -> tuple[Feed, str]:
    """A new secret for the same feed (a URL leaked); the old URL answers 404 at once."""
    who.require(BOOK)
    with atomic():
        feed = get_feed(who, feed_id)
        token = _new_token()
        feed.token_hash = hash_token(token)
        feed.rotated_at = utcnow()
    return feed, token


def revoke_issued_by(api_key_id: int, at) -> int:
    """Revoking a key revokes the feeds it made (in the caller's transaction): a feed URL is a
    credential the key handed out, and must not outlive it. Row by row, so the audit log
    records each. Returns how many were revoked."""
    issued = db.session.scalars(select(Feed).where(Feed.created_by_key_id == api_key_id,
                                                   Feed.revoked_at.is_(None))).all()
    for feed in issued:
        feed.revoked_at = at
    return len(issued)


def find_by_token(token: str) -> Feed:
    """The active feed this token opens. Unknown, malformed and revoked all look the same."""
    if not token.startswith(TOKEN_PREFIX) or len(token) != TOKEN_LENGTH:
        raise NotFound("feed not found")
    feed = db.session.scalar(select(Feed).where(Feed.token_hash == hash_token(token)))
    if feed is None or not feed.active:
        raise NotFound("feed not found")
    return feed


def _visible(who: Principal, feed: Feed) -> bool:
    return not who.scoped or (feed.clinic_id is not None and who.sees(feed.clinic_id))


def _tenant_clinic(who: Principal, scope: str, scope_id: int,
                   requested: int | None) -> int | None:
    """The clinic the feed is walled to (None: every clinic, for unscoped keys only)."""
    if scope == "clinic":
        clinic = practice.get_clinic(who, scope_id)
        _check_requested(requested, {clinic.id})
        return clinic.id
    if scope == "room":
        room = practice.get_room(who, scope_id)
        _check_requested(requested, {room.clinic_id})
        return room.clinic_id
    if scope == "patient":
        patient = practice.get_patient(who, scope_id)
        if requested is not None:
            return _requested_clinic(who, requested)
        if who.scoped and not who.sees(patient.clinic_id):  # seen through a visit here
            raise Invalid.field("clinic_id", "required: the patient's home clinic is not yours")
        return patient.clinic_id if who.scoped else None
    member = practice.get_staff(who, scope_id)
    visible = {c for c in member.clinic_ids if who.sees(c)}
    if requested is not None:
        _check_requested(requested, visible)
        return requested
    if not who.scoped:
        return None
    if len(visible) == 1:
        return next(iter(visible))
    raise Invalid.field("clinic_id", "required: this staff member works at several of your "
                                     "clinics; a feed shows one of them")


def _requested_clinic(who: Principal, clinic_id: int) -> int:
    """A ``clinic_id`` named in the body: missing or invisible is the body's fault, by name."""
    try:
        return practice.get_clinic(who, clinic_id).id
    except NotFound:
        raise Invalid.field("clinic_id", f"clinic {clinic_id} does not exist") from None


def _check_requested(requested: int | None, allowed: set[int]) -> None:
    if requested is not None and requested not in allowed:
        raise Invalid.field("clinic_id", f"clinic {requested} is not where this feed's "
                                         "appointments are")
