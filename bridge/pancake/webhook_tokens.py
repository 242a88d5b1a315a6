"""How a webhook proves it comes from the shop's Pancake: the secret in the ``X-Bridge-Secret``
header, or the token in its URL (``?token=``), for a Pancake that sends no custom header.

The token is derived from the webhook secret (an HMAC of the shop id under it), so
``bridge shops connect`` sends the same URL every time it runs: repeating it, or repeating it
after an answer that never came, leaves no moment when Pancake holds a token the bridge does not.

Neither is stored in clear: the secret is kept as a digest (``SecretBox.digest``), and so is the
token, bound to the secret's digest. A secret changed later (``shops add --webhook-secret``,
``connect --new-secret``) thereby retires the token made from the old one, though only the
secret is rewritten: a leaked secret cannot live on as a URL token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from sqlmodel import Session

from bridge.pancake.shops import get_shop
from bridge.secrets import SecretBox

_PURPOSE = b"pancake-bridge/webhook-url-token\0"


def url_token(secret: str, shop_id: str) -> str:
    """The token a shop's webhook URL carries: 43 URL-safe characters (256 bits)."""
    mac = hmac.new(secret.encode(), _PURPOSE + shop_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _bound(secret_digest: str, token: str) -> str:
    return f"{secret_digest}\0{token}"


def token_digest(box: SecretBox, secret_digest: str, token: str) -> str:
    """What is stored for ``token``: a keyed digest, valid only beside ``secret_digest``."""
    return box.digest(_bound(secret_digest, token))


def store_token(session: Session, box: SecretBox, shop_id: str, token: str) -> None:
    """Keep ``token`` as the shop's URL token, bound to its secret as stored now (so a new
    secret is stored first, in the same transaction)."""
    shop = get_shop(session, shop_id)
    shop.webhook_token_digest = token_digest(box, shop.webhook_secret_digest, token)
    session.add(shop)


def token_matches(
    box: SecretBox, token: str, secret_digest: str, stored_token_digest: str | None
) -> bool:
    """Constant-time check of a URL's token against the shop's stored digests; a shop that was
    never given a token (connected before tokens, or never connected) matches none."""
    if not stored_token_digest:
        return False
    return box.matches(_bound(secret_digest, token), stored_token_digest)


def authenticated(
    box: SecretBox,
    *,
    header: str | None,
    token: str | None,
    secret_digest: str,
    token_digest: str | None,
) -> bool:
    """Either credential proves the sender; both are checked whatever the first gave, so the
    time taken tells nothing but which were presented."""
    by_header = header is not None and box.matches(header, secret_digest)
    by_token = token is not None and token_matches(box, token, secret_digest, token_digest)
    return by_header or by_token
