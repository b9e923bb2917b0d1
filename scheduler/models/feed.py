"""iCal subscriptions: one row per feed URL, the secret kept only as a hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow

FEED_SCOPES = ("clinic", "room", "staff", "patient")
FEED_PRIVACY = ("busy", "details")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Feed(db.Model):
    """A calendar subscription for one clinic, room, staff member or patient.

    ``clinic_id`` is the tenant the feed belongs to (the wall for listing and revoking) and the
    only clinic whose appointments it shows; it is NULL only for staff and patient feeds made by
    an unscoped key, which follow the person across every clinic. Deleting a feed sets
    ``revoked_at`` (the row stays for the audit trail); rotating replaces
    ``token_hash``. Revoking the API key that made a feed (``created_by_key_id``) revokes it.
    """

    __tablename__ = "feeds"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(_in("scope", FEED_SCOPES), name="ck_feeds_scope"),
        CheckConstraint(_in("privacy", FEED_PRIVACY), name="ck_feeds_privacy"),
        CheckConstraint("scope IN ('staff', 'patient') OR clinic_id IS NOT NULL",
                        name="ck_feeds_clinic_for_place_scopes"),
        Index("ix_feeds_clinic", "clinic_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    scope_id: Mapped[int] = mapped_column()
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    privacy: Mapped[str] = mapped_column(String(10))
    # SHA-256 hex of the URL token (256 random bits): a leaked database row opens no calendar.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The feed's ETag as last served and when it became that (its Last-Modified, whole
    # seconds, strictly increasing): a removal moves no row's updated_at, an ETag change does.
    content_etag: Mapped[str | None] = mapped_column(String(64), default=None)
    content_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def active(self) -> bool:
        return self.revoked_at is None
