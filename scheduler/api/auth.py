"""Bearer-key authentication for ``/api/v1``: who is calling, in which role and clinic scope."""

from __future__ import annotations

from flask import g, request
from werkzeug.exceptions import Unauthorized

from ..audit import Actor, current_actor
from ..services import keys
from ..services.access import Principal

# Documentation is readable without a key; every data call needs one.
PUBLIC_PATHS = ("/api/v1/openapi.json", "/api/v1/docs")


def authenticate() -> None:
    if not request.path.startswith("/api/v1") or request.path.startswith(PUBLIC_PATHS):
        return
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Authorization: Bearer <key> is required")
    key = keys.find_active(secret.strip())
    if key is None:
        raise Unauthorized("unknown or revoked API key")
    g.principal = Principal(role=key.role, clinic_ids=key.clinic_ids, api_key_id=key.id)
    g.actor_token = current_actor.set(Actor(label=f"key:{key.prefix}", api_key_id=key.id))


def principal() -> Principal:
    return g.principal


def reset_actor(response):
    token = g.pop("actor_token", None)
    if token is not None:
        current_actor.reset(token)
    return response
