"""Delivering the outbox: fan out, claim, sign, POST, record, retry; and queue reminders.

Runs in the job process (``jobs.registry``: ``deliver_webhooks`` every second,
``queue_reminders`` every few seconds). Every step is decided by database state, so any number of
workers may run it at once:

1. **Fan-out**: each undispatched event becomes one ``webhook_deliveries`` row per active
   subscription that hears it (type, tenant wall, target), then is marked dispatched.
2. **Claim**: due pending deliveries are selected ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite
   has one writer and one runner) and leased: ``next_attempt_at`` moves to the end of a lease
   and the claim commits before any HTTP is sent, so no transaction stays open across a request
   and a second worker never sees a leased row. A worker that dies mid-send leaves the lease to
   run out; the attempt is then made again (at least once, same ``webhook-id``).
   A delivery waits while an earlier event with the same ``ordering_key`` (the appointment) is
   still pending for that endpoint: order per appointment holds across retries.
3. **Send**: Standard Webhooks headers, signed anew for every attempt (receivers refuse
   timestamps more than five minutes old); httpx with short timeouts, no redirects, no proxies
   from the environment, connected to the address that was checked (``webhook_targets``).
4. **Record**: every attempt is a ``webhook_attempts`` row. A 2xx delivers; anything else is
   retried after a growing delay (``WEBHOOK_RETRY_SECONDS``) until 24 hours have passed, then
   the delivery fails. An endpoint whose every attempt failed for a day is disabled, with why.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from flask import current_app
from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import aliased
from standardwebhooks import Webhook as Signer

from ..extensions import db
from ..models import (
    Appointment,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookReminder,
)
from ..models.types import utcnow
from . import outbox, webhook_targets
from .transaction import atomic
from .webhooks import signing_secret, stop_pending

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
CLAIM_BATCH = 100
FANOUT_BATCH = 1000
# One job run drains what is due for at most this long, then lets the next run continue.
RUN_BUDGET_SECONDS = 30.0
ERROR_MAX = 500
USER_AGENT = "Regimen-Webhooks/1"


@dataclass(frozen=True)
class Attempt:
    """One claimed delivery, with everything the sender needs (no database access there)."""

    delivery_id: int
    webhook_id: int
    attempt: int
    url: str
    event_id: str
    body: str
    secret: str


@dataclass(frozen=True)
class Outcome:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None


# ---------------------------------------------------------------- the job

def deliver_webhooks() -> int:
    """Job body: fan out new events, then send every due attempt. Returns attempts made."""
    made = 0
    deadline = time.monotonic() + RUN_BUDGET_SECONDS
    with Sender.from_config(current_app.config) as sender:
        while True:
            dispatch_events()
            batch = claim_due()
            if not batch:
                return made
            record_outcomes(batch, sender.send_all(batch))
            made += len(batch)
            if time.monotonic() > deadline:
                return made


def dispatch_events(limit: int = FANOUT_BATCH) -> int:
    """Turn undispatched events into deliveries for every subscription that hears them."""
    with atomic():
        # Locked in id order and waited for, not skipped: two runners fanning out different
        # events at once could give a later event of an ordering key its delivery (and send
        # it) before an earlier one's delivery row exists.
        ids = list(db.session.scalars(
            select(WebhookEvent.id).where(WebhookEvent.dispatched_at.is_(None))
            .order_by(WebhookEvent.id).limit(limit).with_for_update()))
        if not ids:
            return 0
        events = db.session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(ids))
                                    .order_by(WebhookEvent.id))
        hooks = list(db.session.scalars(select(Webhook).where(Webhook.status == "active")))
        now = utcnow()
        rows = [{"event_id": event.id, "webhook_id": hook.id,
                 "ordering_key": event.ordering_key, "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now}
                for event in events for hook in hooks if hook.hears(event)]
        if rows:
            db.session.execute(insert(WebhookDelivery), rows)
        db.session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(ids))
                           .values(dispatched_at=now))
        return len(rows)


def claim_due(limit: int = CLAIM_BATCH) -> list[Attempt]:
    """Lease up to ``limit`` due deliveries (never one whose predecessor is still pending)."""
    with atomic():
        now = utcnow()
        earlier = aliased(WebhookDelivery)
        waits_for_earlier = exists().where(
            earlier.webhook_id == WebhookDelivery.webhook_id,
            earlier.ordering_key == WebhookDelivery.ordering_key,
            earlier.status == "pending", earlier.event_id < WebhookDelivery.event_id)
        ids = list(db.session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                   WebhookDelivery.webhook_id.in_(
                       select(Webhook.id).where(Webhook.status == "active")),
                   ~waits_for_earlier)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit).with_for_update(skip_locked=True)))
        if not ids:
            return []
        deliveries = list(db.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id)))
        hooks = {h.id: h for h in db.session.scalars(
            select(Webhook).where(Webhook.id.in_({d.webhook_id for d in deliveries})))}
        secrets_by_hook = {h.id: signing_secret(h) for h in hooks.values()}
        batch = [Attempt(delivery_id=d.id, webhook_id=d.webhook_id, attempt=d.attempts + 1,
                         url=hooks[d.webhook_id].url, event_id=d.event.public_id,
                         body=render_body(d.event, hooks[d.webhook_id].privacy),
                         secret=secrets_by_hook[d.webhook_id])
                 for d in deliveries]
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                           .values(attempts=WebhookDelivery.attempts + 1,
                                   next_attempt_at=now + LEASE),
                           execution_options={"synchronize_session": False})
    return batch


def render_body(event: WebhookEvent, privacy: str) -> str:
    data = event.data if privacy == "details" else outbox.busy_view(event.data)
    return json.dumps({"type": event.type, "timestamp": event.occurred_at.isoformat(),
                       "data": data}, separators=(",", ":"), ensure_ascii=False)


def record_outcomes(batch: list[Attempt], outcomes: list[Outcome]) -> None:
    """One transaction per batch: successes in one statement, failures row by row."""
    config = current_app.config
    delays = retry_delays(config)
    window = timedelta(hours=config["WEBHOOK_RETRY_WINDOW_HOURS"])
    disable_after = timedelta(hours=config["WEBHOOK_DISABLE_AFTER_HOURS"])
    with atomic():
        now = utcnow()
        hooks = {h.id: h for h in db.session.scalars(
            select(Webhook).where(Webhook.id.in_({a.webhook_id for a in batch})))}
        failed = [a.delivery_id for a, o in zip(batch, outcomes, strict=True) if not o.ok]
        deliveries = {d.id: d for d in db.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id.in_(failed)))} if failed else {}
        delivered, attempts, disabled = [], [], []
        for attempt, outcome in zip(batch, outcomes, strict=True):
            hook = hooks[attempt.webhook_id]
            next_retry = None
            if outcome.ok:
                delivered.append(attempt.delivery_id)
                if hook.failing_since is not None:
                    hook.failing_since = None
            else:
                delivery = deliveries[attempt.delivery_id]
                next_retry = next_retry_at(delivery, now, delays, window)
                if next_retry is None:
                    delivery.status, delivery.next_attempt_at = "failed", None
                else:
                    delivery.next_attempt_at = next_retry
                if hook.failing_since is None:
                    hook.failing_since = outcome.at
                elif hook.status == "active" and now - hook.failing_since >= disable_after:
                    _disable(hook, outcome, now)
                    disabled.append(hook.id)
                    next_retry = None
            attempts.append({
                "delivery_id": attempt.delivery_id, "webhook_id": attempt.webhook_id,
                "attempt": attempt.attempt, "at": outcome.at, "status_code": outcome.status_code,
                "error": outcome.error, "duration_ms": outcome.duration_ms,
                "next_retry_at": next_retry})
        if delivered:
            db.session.execute(update(WebhookDelivery)
                               .where(WebhookDelivery.id.in_(delivered))
                               .values(status="delivered", delivered_at=now,
                                       next_attempt_at=None))
        db.session.execute(insert(WebhookAttempt), attempts)
        db.session.flush()
        for webhook_id in disabled:
            stop_pending(webhook_id)


def retry_delays(config) -> list[timedelta]:
    return [timedelta(seconds=float(s)) for s in str(config["WEBHOOK_RETRY_SECONDS"]).split(",")]


def next_retry_at(delivery: WebhookDelivery, now: datetime, delays: list[timedelta],
                  window: timedelta) -> datetime | None:
    """After attempt n, wait delays[n-1] (the last repeats); nothing after the window closes,
    and one last attempt exactly when it closes."""
    closes = delivery.created_at + window
    if now >= closes:
        return None
    delay = delays[min(delivery.attempts - 1, len(delays) - 1)]
    return min(now + delay, closes)


def _disable(hook: Webhook, outcome: Outcome, now: datetime) -> None:
    hook.status, hook.disabled_at = "disabled", now
    hook.disabled_reason = (
        f"every delivery attempt failed from {hook.failing_since.isoformat()} to "
        f"{now.isoformat()}; last: {outcome.error}")[:2000]
    log.warning("webhook %s disabled: %s", hook.id, hook.disabled_reason)


# ---------------------------------------------------------------- sending

class Sender:
    """POSTs attempts concurrently; one httpx client per host name (a pooled TLS connection is
    never reused for a different name that happens to share an address)."""

    def __init__(self, *, timeout: float, allow_private: bool, concurrency: int):
        self.timeout, self.allow_private = timeout, allow_private
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency),
                                       thread_name_prefix="webhook")
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config) -> Sender:
        return cls(timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
                   allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
                   concurrency=config["WEBHOOK_CONCURRENCY"])

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True)
        for client in self._clients.values():
            client.close()

    def send_all(self, batch: list[Attempt]) -> list[Outcome]:
        return list(self.pool.map(self.send, batch))

    def _client(self, host: str) -> httpx.Client:
        with self._lock:
            client = self._clients.get(host)
            if client is None:
                client = self._clients[host] = httpx.Client(
                    timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                    trust_env=False, headers={"user-agent": USER_AGENT})
            return client

    def send(self, attempt: Attempt) -> Outcome:
        at, started = utcnow(), time.monotonic()
        status_code, error = None, None
        try:
            target = webhook_targets.resolve(attempt.url, allow_private=self.allow_private)
            signed_at = utcnow()
            headers = {
                "content-type": "application/json",
                "host": target.host_header,
                "webhook-id": attempt.event_id,
                "webhook-timestamp": str(int(signed_at.timestamp())),
                "webhook-signature": Signer(attempt.secret).sign(
                    attempt.event_id, signed_at, attempt.body),
            }
            extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
            with self._client(target.host_header).stream(
                    "POST", target.url, content=attempt.body.encode(), headers=headers,
                    extensions=extensions) as response:
                status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
                if 300 <= status_code < 400:
                    error += " (redirects are not followed)"
        except webhook_targets.UnsafeTarget as exc:
            error = f"refused: {exc}"
        except httpx.TimeoutException:
            error = f"timed out after {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Outcome(at=at, status_code=status_code, error=error[:ERROR_MAX] if error else None,
                       duration_ms=int((time.monotonic() - started) * 1000))


# ---------------------------------------------------------------- reminders

def queue_reminders(now: datetime) -> int:
    """Job body: a ``reminder.due`` event for every booked appointment whose reminder time has
    come, once per subscription, offset and appointment start (a reschedule re-arms it).

    Decided from the calendar as it stands, so appointments booked before the subscription are
    covered, a cancelled one is never reminded of, and an offset already past when the
    appointment was booked fires on the next run.
    """
    made = 0
    with atomic():
        hooks = [h for h in db.session.scalars(select(Webhook).where(Webhook.status == "active"))
                 if outbox.REMINDER_DUE in (h.events or ()) and h.reminder_hours]
        for hook in hooks:
            made += _remind(hook, now)
    return made


def _remind(hook: Webhook, now: datetime) -> int:
    offsets = sorted({round(h * 3600) for h in hook.reminder_hours})
    query = select(Appointment).where(
        Appointment.status == "booked", Appointment.starts_at > now,
        Appointment.starts_at <= now + timedelta(seconds=offsets[-1]))
    if hook.clinic_ids is not None:
        query = query.where(Appointment.clinic_id.in_(hook.clinic_ids))
    appointments = list(db.session.scalars(query.order_by(Appointment.starts_at)))
    if not appointments:
        return 0
    fired = set(db.session.execute(
        select(WebhookReminder.appointment_id, WebhookReminder.offset_seconds,
               WebhookReminder.starts_at)
        .where(WebhookReminder.webhook_id == hook.id,
               WebhookReminder.appointment_id.in_([a.id for a in appointments]))).all())
    made = 0
    for appt in appointments:
        for offset in offsets:
            remind_at = appt.starts_at - timedelta(seconds=offset)
            if remind_at > now or (appt.id, offset, appt.starts_at) in fired:
                continue
            event = outbox.emit(
                outbox.REMINDER_DUE, [appt.clinic_id],
                {"offset_hours": offset / 3600, "remind_at": remind_at.isoformat(),
                 "appointment": outbox.appointment_payload(appt)},
                ordering_key=f"appointment:{appt.id}", webhook_id=hook.id)
            db.session.flush([event])
            db.session.add(WebhookReminder(webhook_id=hook.id, appointment_id=appt.id,
                                           offset_seconds=offset, starts_at=appt.starts_at,
                                           event_id=event.id))
            made += 1
    return made
