"""Secrets we must be able to use again (webhook signing keys), encrypted at rest.

A signing secret cannot be stored as a hash the way API keys and feed tokens are: every delivery
needs the secret itself to compute its HMAC. So it is encrypted with Fernet (AES-128-CBC plus
HMAC-SHA256, authenticated) under a key that lives only in the operator's configuration
(``REGIMEN_SECRET_KEY``), never in the database: a dump, a backup or a read-only SQL injection
yields ciphertext that signs nothing. ``REGIMEN_SECRET_KEY`` may list several keys separated by
commas: the first encrypts, every one decrypts (rotate by putting the new key first).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_INFO = b"regimen secret box v1"


def _fernet(passphrase: str) -> Fernet:
    """Any high-entropy string becomes a Fernet key (HKDF-SHA256), so operators can paste the
    output of ``secrets.token_urlsafe(32)`` or a password manager's."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        passphrase.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _box() -> MultiFernet:
    configured = current_app.config.get("SECRET_ENCRYPTION_KEY")
    if not configured:
        raise RuntimeError("REGIMEN_SECRET_KEY is not set")
    return MultiFernet([_fernet(k.strip()) for k in configured.split(",") if k.strip()])


def seal(plaintext: str) -> str:
    return _box().encrypt(plaintext.encode()).decode()


def open_sealed(ciphertext: str) -> str:
    return _box().decrypt(ciphertext.encode()).decode()
