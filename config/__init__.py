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
    # How far ahead open-ended (until_days) phases are placed.
    HORIZON_DAYS = int(os.environ.get("REGIMEN_HORIZON_DAYS", "90"))
    PAGE_SIZE_DEFAULT = 50
    PAGE_SIZE_MAX = 500
    # Base URL used to build absolute feed URLs; defaults to the request's host.
    PUBLIC_BASE_URL = os.environ.get("REGIMEN_PUBLIC_BASE_URL")

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
    # Waitlist (SPEC 9): how long an offer holds its slots unanswered; how often the matcher
    # looks for released capacity (offers come within this plus the matching time) and how
    # often unanswered offers are expired.
    OFFER_MINUTES = int(os.environ.get("REGIMEN_OFFER_MINUTES", "120"))
    JOB_MATCH_WAITLIST_SECONDS = int(os.environ.get("REGIMEN_JOB_MATCH_WAITLIST_SECONDS", "3"))
    JOB_EXPIRE_OFFERS_SECONDS = int(os.environ.get("REGIMEN_JOB_EXPIRE_OFFERS_SECONDS", "30"))
    # A booked appointment this long past its end without a check-in is flagged as overdue.
    OVERDUE_GRACE_MINUTES = int(os.environ.get("REGIMEN_OVERDUE_GRACE_MINUTES", "60"))
    # A run that starts this late (process paused, machine asleep) still runs, once.
    JOB_MISFIRE_GRACE_SECONDS = int(os.environ.get("REGIMEN_JOB_MISFIRE_GRACE_SECONDS", "300"))
    # A standby scheduler process retries the runner election this often.
    SCHEDULER_ELECTION_RETRY_SECONDS = int(
        os.environ.get("REGIMEN_SCHEDULER_ELECTION_RETRY_SECONDS", "15"))

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


class DevelopmentConfig(Config):
    pass


class TestingConfig(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"


class ProductionConfig(Config):
    pass


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
