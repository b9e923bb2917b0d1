"""Webhook subscriptions: who may make one, what it hears, and its signing secret.

- Managers and admins subscribe (``configure``). A clinic-scoped key's subscription is walled to
  its clinics (``Webhook.clinic_ids``; a subset may be asked for) and hears nothing of others;
  an unscoped key's hears every clinic unless it names some.
- The secret (Standard Webhooks ``whsec_`` + 32 random bytes) is shown once, at creation and at
  rotation, and stored only encrypted (``secret_box``). Rotation replaces it at once: every
  later attempt, retries included, is signed with the new one.
- URLs must be http(s) and resolve to public addresses (``webhook_targets``).
"""

from __future__ import annotations

import base64
import secrets

from flask import current_app
from sqlalchemy import select, update

from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import Clinic, Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent
from ..models.types import utcnow
from . import secret_box, webhook_targets
from .access import CONFIGURE, Principal
from .pagination import Page, paginate
from .transaction import atomic

SECRET_PREFIX = "whsec_"
MAX_REMINDER_HOURS = 24 * 60  # 60 days ahead


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secret(hook: Webhook) -> str:
    return secret_box.open_sealed(hook.secret_ciphertext)


def create_webhook(who: Principal, data: dict) -> tuple[Webhook, str]:
    """Return the subscription and its secret (never shown again)."""
    who.require(CONFIGURE)
    _check_url(data["url"])
    reminder_hours = _reminder_hours(data.get("reminder_hours") or [])
    with atomic():
        clinic_ids = _clinics(who, data.get("clinic_ids"))
        secret = new_secret()
        hook = Webhook(url=data["url"], events=sorted(set(data["events"])),
                       privacy=data["privacy"], reminder_hours=reminder_hours,
                       clinic_ids=clinic_ids, secret_ciphertext=secret_box.seal(secret),
                       created_by_key_id=who.api_key_id, status="active")
        db.session.add(hook)
        db.session.flush()
    return hook, secret


def list_webhooks(who: Principal) -> list[Webhook]:
    who.require(CONFIGURE)
    hooks = db.session.scalars(select(Webhook).where(Webhook.status != "deleted")
                               .order_by(Webhook.id))
    return [h for h in hooks if _visible(who, h)]


def get_webhook(who: Principal, webhook_id: int) -> Webhook:
    who.require(CONFIGURE)
    hook = db.session.get(Webhook, webhook_id)
    if hook is None or hook.status == "deleted" or not _visible(who, hook):
        raise NotFound(f"webhook {webhook_id} not found")
    return hook


def delete_webhook(who: Principal, webhook_id: int) -> None:
    """The row stays (its delivery log, the audit trail); nothing is sent to it any more."""
    with atomic():
        hook = get_webhook(who, webhook_id)
        hook.status, hook.deleted_at = "deleted", utcnow()
        stop_pending(hook.id)


def rotate_secret(who: Principal, webhook_id: int) -> tuple[Webhook, str]:
    with atomic():
        hook = get_webhook(who, webhook_id)
        secret = new_secret()
        hook.secret_ciphertext = secret_box.seal(secret)
        hook.secret_rotated_at = utcnow()
    return hook, secret


def list_attempts(who: Principal, webhook_id: int, page: int, page_size: int,
                  event_id: str | None = None) -> Page:
    """Every attempt, newest first: event id, type, status code, error, next retry."""
    hook = get_webhook(who, webhook_id)
    query = (select(WebhookAttempt).where(WebhookAttempt.webhook_id == hook.id)
             .order_by(WebhookAttempt.id.desc()))
    if event_id is not None:
        query = query.where(WebhookAttempt.delivery_id.in_(
            select(WebhookDelivery.id).join(WebhookEvent)
            .where(WebhookEvent.public_id == event_id)))
    return paginate(query, page, page_size)


def stop_pending(webhook_id: int) -> None:
    """A deleted or disabled endpoint is owed nothing more."""
    db.session.execute(update(WebhookDelivery)
                       .where(WebhookDelivery.webhook_id == webhook_id,
                              WebhookDelivery.status == "pending")
                       .values(status="failed", next_attempt_at=None))


def _visible(who: Principal, hook: Webhook) -> bool:
    if not who.scoped:
        return True
    return hook.clinic_ids is not None and set(hook.clinic_ids) <= who.clinic_ids


def _clinics(who: Principal, requested: list[int] | None) -> list[int] | None:
    if requested is None:
        return sorted(who.clinic_ids) if who.scoped else None
    for i, clinic_id in enumerate(requested):
        clinic = db.session.get(Clinic, clinic_id)
        if clinic is None or clinic.is_deleted or not who.sees(clinic_id):
            raise Invalid.field(f"clinic_ids[{i}]", f"clinic {clinic_id} does not exist")
    return sorted(set(requested))


def _check_url(url: str) -> None:
    try:
        webhook_targets.resolve(url, allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"])
    except webhook_targets.UnsafeTarget as exc:
        raise Invalid.field("url", str(exc)) from None


def _reminder_hours(values: list[float]) -> list[float]:
    out = []
    for i, value in enumerate(values):
        if not 0 < value <= MAX_REMINDER_HOURS:
            raise Invalid.field(f"reminder_hours[{i}]",
                                f"must be more than 0 and at most {MAX_REMINDER_HOURS}")
        out.append(value)
    return sorted(set(out), reverse=True)
