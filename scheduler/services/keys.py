"""API keys: random secrets shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import ROLES, ApiKey, Clinic
from ..models.types import utcnow
from . import feeds

KEY_PREFIX = "rgk_"


def hash_secret(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(role: str, clinic_ids: list[int] | None = None,
               label: str = "") -> tuple[ApiKey, str]:
    if role not in ROLES:
        raise Invalid.field("role", f"must be one of {', '.join(ROLES)}")
    clinics = []
    for cid in clinic_ids or []:
        clinic = db.session.get(Clinic, cid)
        if clinic is None or clinic.is_deleted:
            raise Invalid.field("clinic", f"clinic {cid} does not exist")
        clinics.append(clinic)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(key_hash=hash_secret(secret), prefix=secret[: len(KEY_PREFIX) + 6], role=role,
                 label=label, clinics=clinics)
    db.session.add(key)
    db.session.commit()
    return key, secret


def find_active(secret: str) -> ApiKey | None:
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_secret(secret)))
    if key is None or key.revoked_at is not None:
        return None
    return key


def list_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(key_id: int) -> ApiKey:
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        feeds.revoke_issued_by(key.id, key.revoked_at)
        db.session.commit()
    return key
