"""Encryption at rest for API keys and delivered credentials, and keyed hashes for webhook secrets.

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from
``BRIDGE_SECRET_KEY``. Webhook secrets are only ever compared, so they are stored as an HMAC
digest instead: a stolen database cannot replay them against the endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(b"pancake-bridge/fernet\0" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self._hmac_key = hashlib.sha256(b"pancake-bridge/hmac\0" + secret_key.encode()).digest()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            # Never echo the token: say what is wrong and how to fix it.
            raise ValueError(
                "a stored secret cannot be decrypted: BRIDGE_SECRET_KEY differs from the key "
                "it was stored with"
            ) from exc

    def digest(self, value: str) -> str:
        return hmac.new(self._hmac_key, value.encode(), hashlib.sha256).hexdigest()

    def matches(self, value: str, stored_digest: str) -> bool:
        """Constant-time check of a presented secret against its stored digest."""
        return hmac.compare_digest(self.digest(value), stored_digest)
