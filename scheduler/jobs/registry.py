"""The jobs: name, fixed lock key, interval (a config key) and the service call they make."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask


@dataclass(frozen=True)
class JobSpec:
    name: str
    lock_id: int
    """Advisory-lock key of this job. Fixed forever: two versions of the code must agree."""
    interval_key: str
    description: str
    body: Callable[[Flask, datetime], int]
    """Runs inside an app context; returns how many rows it changed."""

    def interval(self, config) -> timedelta:
        return timedelta(seconds=config[self.interval_key])


# The services are imported at call time: they are the jobs, this module only schedules them.

def _expire_holds(app: Flask, now: datetime) -> int:
    from ..services import holds

    return holds.expire_holds(now)


def _extend_horizons(app: Flask, now: datetime) -> int:
    from ..services import horizon

    return horizon.extend_horizons(now)


def _flag_overdue(app: Flask, now: datetime) -> int:
    from ..services import lifecycle

    return lifecycle.flag_overdue(now, timedelta(minutes=app.config["OVERDUE_GRACE_MINUTES"]))


def _flag_overdue_rems_forms(app: Flask, now: datetime) -> int:
    from ..services import rems

    return rems.flag_overdue_forms(now)


def _deliver_webhooks(app: Flask, now: datetime) -> int:
    from ..services import webhook_delivery

    return webhook_delivery.deliver_webhooks()


def _queue_reminders(app: Flask, now: datetime) -> int:
    from ..services import webhook_delivery

    return webhook_delivery.queue_reminders(now)
def _match_waitlist(app: Flask, now: datetime) -> int:
    from ..services import matching

    return matching.match_pending(now)


def _expire_offers(app: Flask, now: datetime) -> int:
    from ..services import offers

    return offers.expire_offers(now)


def _prune_calendar_changes(app: Flask, now: datetime) -> int:
    from ..services import calendar_cache

    return calendar_cache.prune_changes()


JOBS: dict[str, JobSpec] = {spec.name: spec for spec in (
    JobSpec("expire_holds", 1, "JOB_EXPIRE_HOLDS_SECONDS",
            "Release enrollments whose hold ran out before confirmation", _expire_holds),
    JobSpec("extend_horizons", 2, "JOB_EXTEND_HORIZONS_SECONDS",
            "Place open-ended maintenance phases over the rolling horizon", _extend_horizons),
    JobSpec("flag_overdue", 3, "JOB_FLAG_OVERDUE_SECONDS",
            "Flag booked appointments long past their end without a check-in",
            _flag_overdue),
    JobSpec("flag_overdue_rems_forms", 12, "JOB_FLAG_OVERDUE_REMS_FORMS_SECONDS",
            "Flag REMS Patient Monitoring Forms past their due date (and announce them)",
            _flag_overdue_rems_forms),
    # Polled every second (REGIMEN_JOB_DELIVER_WEBHOOKS_SECONDS): a delivery starts within 5 s
    # of the commit on every database, with no listener connection to keep alive.
    JobSpec("deliver_webhooks", 4, "JOB_DELIVER_WEBHOOKS_SECONDS",
            "Send webhook events from the outbox, retrying failed deliveries",
            _deliver_webhooks),
    JobSpec("queue_reminders", 5, "JOB_QUEUE_REMINDERS_SECONDS",
            "Queue reminder.due events for booked appointments whose reminder time came",
            _queue_reminders),
    # Lock keys 10 and 11 (issue 10), clear of the small numbers other jobs may take.
    JobSpec("match_waitlist", 10, "JOB_MATCH_WAITLIST_SECONDS",
            "Offer released capacity to waiting enrollments, first come first served",
            _match_waitlist),
    JobSpec("expire_offers", 11, "JOB_EXPIRE_OFFERS_SECONDS",
            "Expire unanswered waitlist offers and pass their time to the next in line",
            _expire_offers),
    JobSpec("prune_calendar_changes", 13, "JOB_PRUNE_CALENDAR_CHANGES_SECONDS",
            "Delete calendar changes too old for any worker's copy to catch up from",
            _prune_calendar_changes),
)}
