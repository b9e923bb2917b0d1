"""Rate limits (Flask-Limiter): per API key, and failed authentications per client address.

- ``RATELIMIT_PER_KEY`` (``REGIMEN_RATELIMIT_DEFAULT``, e.g. ``1200 per minute``): every
  ``/api/v1`` call counts against the key it presents, across all endpoints. The bucket is named
  by the key's hash, so it is counted before any database lookup.
- ``RATELIMIT_AUTH_FAILURES`` (``REGIMEN_RATELIMIT_AUTH_FAILURES``, e.g. ``30 per minute``):
  every 401 counts against the client address; once it is spent, every request from that
  address answers 429 until the window ends (whatever key it carries: a guesser must not learn
  which of its guesses would have worked).
- 429 comes in the JSON error shape with ``Retry-After`` (``errors.py``).
- ``RATELIMIT_STORAGE_URI`` (``REGIMEN_RATELIMIT_STORAGE_URI``): ``memory://`` counts per
  process, right on a laptop; behind several workers or hosts each would count alone and the
  limit would silently be workers × hosts times larger, so production refuses to start with it
  (use ``redis://…``, or turn limits off with ``REGIMEN_RATELIMIT_ENABLED=0``). A storage that
  fails at run time is logged and lets requests through: scheduling matters more than limits.

The limiter's hook runs after ``_track_read_only_requests`` and before authentication.
"""

from __future__ import annotations

import hashlib
import time

from flask import Flask, current_app, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address

from .auth import PUBLIC_PATHS

EXTENSION = "regimen_limiter"


class RateLimitStorageError(RuntimeError):
    pass


def _outside_api() -> bool:
    return not request.path.startswith("/api/v1") or request.path.startswith(PUBLIC_PATHS)


def _presented_key() -> str:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return ""
    return hashlib.sha256(secret.strip().encode()).hexdigest()[:32]


def _authentication_failed(response) -> bool:
    return response.status_code == 401


def init_rate_limits(app: Flask) -> None:
    config = app.config
    if not config.get("RATELIMIT_ENABLED"):
        config["RATELIMIT_ENABLED"] = False
        return
    storage = config.get("RATELIMIT_STORAGE_URI") or "memory://"
    config["RATELIMIT_STORAGE_URI"] = storage
    if config.get("RATELIMIT_REQUIRE_SHARED_STORAGE") and storage.startswith("memory://"):
        raise RateLimitStorageError(
            "REGIMEN_RATELIMIT_STORAGE_URI is memory:// (or unset): every worker would count "
            "alone. Set it to a storage all workers and hosts share (redis://host:6379), or "
            "turn rate limits off with REGIMEN_RATELIMIT_ENABLED=0.")
    limiter = Limiter(
        key_func=get_remote_address,
        application_limits=[
            ApplicationLimit(lambda: current_app.config["RATELIMIT_AUTH_FAILURES"],
                             key_function=get_remote_address, scope="auth-failures",
                             exempt_when=_outside_api, deduct_when=_authentication_failed),
            ApplicationLimit(lambda: current_app.config["RATELIMIT_PER_KEY"],
                             key_function=_presented_key, scope="per-key",
                             exempt_when=lambda: _outside_api() or not _presented_key()),
        ],
        storage_uri=storage, swallow_errors=True, headers_enabled=False,
        key_prefix=config.get("RATELIMIT_KEY_PREFIX", "regimen"))
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter


def retry_after_seconds() -> int:
    """Seconds until the breached window resets (for the 429's ``Retry-After``)."""
    limiter = current_app.extensions.get(EXTENSION)
    current = limiter.current_limit if limiter is not None else None
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))
