"""Webhooks: subscriptions, the transactional outbox of events, deliveries and their attempts.

An event row is written by the service that makes a change, in the same transaction: it commits
or rolls back with the change. The delivery job fans each event out to the subscriptions that
hear it (one ``webhook_deliveries`` row per event and endpoint) and records every HTTP attempt
in ``webhook_attempts``. ``webhook_reminders`` remembers which reminder fired for which
appointment time, so each fires once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import Timestamped
from .types import JSONDoc, UTCDateTime, utcnow

WEBHOOK_PRIVACY = ("busy", "details")
WEBHOOK_STATUSES = ("active", "disabled", "deleted")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Webhook(Timestamped, db.Model):
    """One endpoint subscription.

    ``clinic_ids`` is the tenant wall: the clinics of the key that made it (NULL: an unscoped
    key, every clinic). The signing secret is kept only encrypted with the operator's
    ``REGIMEN_SECRET_KEY`` (see ``services.secret_box``): a database dump alone signs nothing.
    """

    __tablename__ = "webhooks"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(_in("privacy", WEBHOOK_PRIVACY), name="ck_webhooks_privacy"),
        CheckConstraint(_in("status", WEBHOOK_STATUSES), name="ck_webhooks_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSONDoc, default=list)
    privacy: Mapped[str] = mapped_column(String(10), default="busy")
    reminder_hours: Mapped[list] = mapped_column(JSONDoc, default=list)
    clinic_ids: Mapped[list | None] = mapped_column(JSONDoc, default=None)
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    status: Mapped[str] = mapped_column(String(10), default="active")
    # First failed attempt since the last success: a day of failures disables the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    def hears(self, event: WebhookEvent) -> bool:
        if event.type not in (self.events or ()):
            return False
        if event.webhook_id is not None and event.webhook_id != self.id:
            return False
        if self.clinic_ids is None:
            return True
        # A scoped subscription hears an event only when every clinic it touches is its own.
        return bool(event.clinic_ids) and set(event.clinic_ids) <= set(self.clinic_ids)


class WebhookEvent(db.Model):
    """The outbox: one row per reported change, written in the change's own transaction.

    ``data`` is the full payload (``details`` privacy); ``busy`` subscribers get it with every
    patient-identifying key removed at delivery. ``ordering_key`` (e.g. ``appointment:31``)
    names what must be delivered in order; ``webhook_id`` targets one endpoint (reminders).
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_dispatched", "dispatched_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    clinic_ids: Mapped[list] = mapped_column(JSONDoc, default=list)
    ordering_key: Mapped[str | None] = mapped_column(String(80))
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id"))
    data: Mapped[dict] = mapped_column(JSONDoc)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class WebhookDelivery(db.Model):
    """One event owed to one endpoint: pending until a 2xx, or failed after 24 hours."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="ck_webhook_deliveries_status"),
        UniqueConstraint("event_id", "webhook_id", name="uq_webhook_deliveries_event_webhook"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "webhook_id", "ordering_key", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"))
    ordering_key: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # Due time while pending; while an attempt is in flight, the end of its lease.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    event = relationship("WebhookEvent", lazy="joined")


class WebhookAttempt(db.Model):
    """Every HTTP attempt, as ``GET /webhooks/{id}/deliveries`` shows it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_webhook", "webhook_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"))
    attempt: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int | None] = mapped_column(default=None)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    delivery = relationship("WebhookDelivery", lazy="joined")


class WebhookReminder(db.Model):
    """A reminder that fired: once per endpoint, appointment, offset and appointment start
    (a reschedule changes the start, so it re-arms the reminder)."""

    __tablename__ = "webhook_reminders"
    __table_args__ = (
        UniqueConstraint("webhook_id", "appointment_id", "offset_seconds", "starts_at",
                         name="uq_webhook_reminders_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    offset_seconds: Mapped[int] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
