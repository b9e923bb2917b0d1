"""Configuration objects, chosen by ``REGIMEN_ENV`` (development, testing, production).

Everything an operator may change comes from environment variables; defaults suit a laptop.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _default_sqlite_url() -> str:
    instance = ROOT / "instance"
    instance.mkdir(exist_ok=True)
    return f"sqlite:///{instance / 'regimen.db'}"


class Config:
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or _default_sqlite_url()
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # How long an enrollment's held appointments wait for confirmation.
    HOLD_MINUTES = int(os.environ.get("REGIMEN_HOLD_MINUTES", "15"))
    # Disruptions (SPEC 8): the exact CP-SAT second opinion on a repair, its wall-clock bound
    # in milliseconds (0 turns it off) and its search workers.
    DISRUPTION_EXACT_MS = int(os.environ.get("REGIMEN_DISRUPTION_EXACT_MS", "300"))
    DISRUPTION_EXACT_WORKERS = int(os.environ.get("REGIMEN_DISRUPTION_EXACT_WORKERS", "1"))
    # How far ahead open-ended (until_days) phases are placed.
    HORIZON_DAYS = int(os.environ.get("REGIMEN_HORIZON_DAYS", "90"))
    # Largest request body accepted (413 beyond): the biggest real document, a protocol or a
    # clinic with years of closures, is a few KB.
    MAX_CONTENT_LENGTH = int(os.environ.get("REGIMEN_MAX_BODY_KB", "256")) * 1024
    # Rate limits (scheduler/api/ratelimit.py): per key, and failed authentications per client
    # address; the storage must be shared by every worker and host in production.
    RATELIMIT_ENABLED = os.environ.get("REGIMEN_RATELIMIT_ENABLED", "1") != "0"
    RATELIMIT_PER_KEY = os.environ.get("REGIMEN_RATELIMIT_DEFAULT", "1200 per minute")
    RATELIMIT_AUTH_FAILURES = os.environ.get("REGIMEN_RATELIMIT_AUTH_FAILURES", "30 per minute")
    RATELIMIT_STORAGE_URI = os.environ.get("REGIMEN_RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_KEY_PREFIX = os.environ.get("REGIMEN_RATELIMIT_KEY_PREFIX", "regimen")
    RATELIMIT_REQUIRE_SHARED_STORAGE = False
    # Reverse proxies in front of gunicorn whose X-Forwarded-For is trusted: the client address
    # (failed-authentication limits) is the one the nearest of them saw. 0: none, use the peer.
    PROXY_HOPS = int(os.environ.get("REGIMEN_PROXY_HOPS", "0"))
    # Check-in opens this many minutes before an appointment's start (SPEC 4).
    CHECKIN_EARLY_MINUTES = int(os.environ.get("REGIMEN_CHECKIN_EARLY_MINUTES", "120"))
    PAGE_SIZE_DEFAULT = 50
    PAGE_SIZE_MAX = 500
    # Base URL used to build absolute feed URLs; defaults to the request's host, except in
    # production, which refuses to start without it (scheduler/api/feeds.py says why).
    PUBLIC_BASE_URL = os.environ.get("REGIMEN_PUBLIC_BASE_URL")
    REQUIRE_PUBLIC_BASE_URL = False

    # iCal feeds: the window of days shown around today, how long cancelled/no-show
    # appointments stay visible as STATUS:CANCELLED, and how often clients should poll.
    FEED_PAST_DAYS = int(os.environ.get("REGIMEN_FEED_PAST_DAYS", "30"))
    FEED_FUTURE_DAYS = int(os.environ.get("REGIMEN_FEED_FUTURE_DAYS", "365"))
    FEED_CANCELLED_DAYS = int(os.environ.get("REGIMEN_FEED_CANCELLED_DAYS", "14"))
    FEED_REFRESH_MINUTES = int(os.environ.get("REGIMEN_FEED_REFRESH_MINUTES", "60"))
    # Rendered feeds kept per worker, keyed by ETag (0 turns the cache off).
    FEED_CACHE_MB = int(os.environ.get("REGIMEN_FEED_CACHE_MB", "64"))

    # Background jobs (``flask --app wsgi scheduler run``): how often each runs, in seconds.
    JOB_EXPIRE_HOLDS_SECONDS = int(os.environ.get("REGIMEN_JOB_EXPIRE_HOLDS_SECONDS", "60"))
    JOB_EXTEND_HORIZONS_SECONDS = int(
        os.environ.get("REGIMEN_JOB_EXTEND_HORIZONS_SECONDS", "3600"))
    JOB_FLAG_OVERDUE_SECONDS = int(os.environ.get("REGIMEN_JOB_FLAG_OVERDUE_SECONDS", "300"))
    JOB_FLAG_OVERDUE_REMS_FORMS_SECONDS = int(
        os.environ.get("REGIMEN_JOB_FLAG_OVERDUE_REMS_FORMS_SECONDS", "3600"))
    # Waitlist (SPEC 9): how long an offer holds its slots unanswered; how often the matcher
    # looks for released capacity (offers come within this plus the matching time) and how
    # often unanswered offers are expired.
    OFFER_MINUTES = int(os.environ.get("REGIMEN_OFFER_MINUTES", "120"))
    JOB_MATCH_WAITLIST_SECONDS = int(os.environ.get("REGIMEN_JOB_MATCH_WAITLIST_SECONDS", "3"))
    JOB_EXPIRE_OFFERS_SECONDS = int(os.environ.get("REGIMEN_JOB_EXPIRE_OFFERS_SECONDS", "30"))
    JOB_PRUNE_CALENDAR_CHANGES_SECONDS = int(
        os.environ.get("REGIMEN_JOB_PRUNE_CALENDAR_CHANGES_SECONDS", "3600"))
    # A booked appointment this long past its end without a check-in is flagged as overdue.
    OVERDUE_GRACE_MINUTES = int(os.environ.get("REGIMEN_OVERDUE_GRACE_MINUTES", "60"))
    # A run that starts this late (process paused, machine asleep) still runs, once.
    JOB_MISFIRE_GRACE_SECONDS = int(os.environ.get("REGIMEN_JOB_MISFIRE_GRACE_SECONDS", "300"))
    # A standby scheduler process retries the runner election this often.
    SCHEDULER_ELECTION_RETRY_SECONDS = int(
        os.environ.get("REGIMEN_SCHEDULER_ELECTION_RETRY_SECONDS", "15"))

    # Webhooks (SPEC 10). Secrets at rest are encrypted with REGIMEN_SECRET_KEY (several keys,
    # comma-separated: the first encrypts, every one decrypts, so the key can be rotated).
    SECRET_ENCRYPTION_KEY = os.environ.get("REGIMEN_SECRET_KEY")
    WEBHOOK_ALLOW_PRIVATE = os.environ.get("REGIMEN_WEBHOOK_ALLOW_PRIVATE", "0") == "1"
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("REGIMEN_WEBHOOK_TIMEOUT_SECONDS", "5"))
    # Seconds after each failed attempt; the last gap repeats until the 24-hour window closes.
    WEBHOOK_RETRY_SECONDS = os.environ.get(
        "REGIMEN_WEBHOOK_RETRY_SECONDS", "10,60,300,1800,3600,7200,14400,28800")
    WEBHOOK_RETRY_WINDOW_HOURS = float(os.environ.get("REGIMEN_WEBHOOK_RETRY_WINDOW_HOURS", "24"))
    # An endpoint whose every attempt failed for this long is disabled.
    WEBHOOK_DISABLE_AFTER_HOURS = float(
        os.environ.get("REGIMEN_WEBHOOK_DISABLE_AFTER_HOURS", "24"))
    WEBHOOK_CONCURRENCY = int(os.environ.get("REGIMEN_WEBHOOK_CONCURRENCY", "8"))
    # The delivery job polls the outbox this often (a delivery starts within 5 s of a commit).
    JOB_DELIVER_WEBHOOKS_SECONDS = float(
        os.environ.get("REGIMEN_JOB_DELIVER_WEBHOOKS_SECONDS", "1"))
    JOB_QUEUE_REMINDERS_SECONDS = float(
        os.environ.get("REGIMEN_JOB_QUEUE_REMINDERS_SECONDS", "5"))

    # flask-smorest / OpenAPI
    API_TITLE = "Regimen"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    # Swagger UI assets are served by the app itself so the docs work on a closed network.
    OPENAPI_SWAGGER_UI_URL = "/api/v1/docs/static/"
    API_SPEC_OPTIONS = {
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearerAuth": []}],
    }
    JSON_SORT_KEYS = False


# Laptop and tests only: a known key protects nothing, which is why production refuses it.
_DEVELOPMENT_SECRET_KEY = "regimen-development-only-not-a-secret"


class DevelopmentConfig(Config):
    SECRET_ENCRYPTION_KEY = Config.SECRET_ENCRYPTION_KEY or _DEVELOPMENT_SECRET_KEY


class TestingConfig(Config):
    TESTING = True
    # Off unless a test turns them on (the tests of the limits themselves do).
    RATELIMIT_ENABLED = os.environ.get("REGIMEN_RATELIMIT_ENABLED", "0") != "0"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    SECRET_ENCRYPTION_KEY = Config.SECRET_ENCRYPTION_KEY or _DEVELOPMENT_SECRET_KEY


class ProductionConfig(Config):
    # Several workers and hosts: per-process memory:// counting would be a false limit.
    RATELIMIT_REQUIRE_SHARED_STORAGE = True
    REQUIRE_PUBLIC_BASE_URL = True
    # create_app refuses to start without REGIMEN_SECRET_KEY (webhook secrets are encrypted).
    REQUIRE_SECRET_ENCRYPTION_KEY = True


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[Config]:
    name = name or os.environ.get("REGIMEN_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"REGIMEN_ENV must be one of {sorted(CONFIGS)}, not {name!r}") from None
