"""Keys of the console, each derived from ``BRIDGE_SECRET_KEY`` with HKDF for one purpose.

The Fernet key that encrypts stored secrets is never reused: a session signature and a stored
ciphertext must not share a key, and a leaked signing key must not open the database.
"""

from __future__ import annotations

from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Purpose(StrEnum):
    SESSION = "session cookie"
    ADMIN = "admin library cookies"  # starlette-admin's CSRF token and flash messages
    THROTTLE = "login throttle subjects"


def derive(secret_key: str, purpose: Purpose) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"pancake-bridge console",
        info=purpose.value.encode(),
    )
    return hkdf.derive(secret_key.encode())
