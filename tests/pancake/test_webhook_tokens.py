"""The webhook URL's token: made from the secret, stored as a digest bound to the secret's, either
credential enough; the URL helpers that compare and print it; Pancake's ping told from a webhook.
"""

from __future__ import annotations

import re

import pytest

from bridge.logs import redact
from bridge.pancake.connect import (
    CurrentWebhook,
    WebhookOwner,
    answer_problems,
    lacks_token,
    same_url,
    shown_url,
    url_token_in,
    webhook_problems,
    webhook_request,
    webhook_url,
)
from bridge.pancake.schemas import ShopWebhook
from bridge.pancake.webhook_tokens import authenticated, token_digest, token_matches, url_token
from bridge.pancake.webhooks import PING_MAX_BYTES, is_ping
from bridge.routes import WEBHOOK_TOKEN_PARAM
from bridge.secrets import SecretBox

SECRET = "s" * 24
BOX = SecretBox("k" * 43)
HOOK = "https://bridge.example/webhooks/pancake/4"


def test_the_token_is_made_from_the_secret_and_the_shop_and_fits_a_url() -> None:
    token = url_token(SECRET, "4")
    assert token == url_token(SECRET, "4"), "the same each time: connect can be repeated"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert token != url_token(SECRET, "5")
    assert token != url_token("t" * 24, "4")
    assert SECRET not in token


def test_a_stored_token_matches_only_beside_the_secret_it_was_issued_with() -> None:
    secret_digest = BOX.digest(SECRET)
    token = url_token(SECRET, "4")
    stored = token_digest(BOX, secret_digest, token)
    assert token not in stored, "never in clear at rest"
    assert token_matches(BOX, token, secret_digest, stored)
    assert not token_matches(BOX, token + "x", secret_digest, stored)
    assert not token_matches(BOX, token, secret_digest, None), "never issued: no token works"
    # The secret replaced (`shops add --webhook-secret`): the old token is retired with it.
    assert not token_matches(BOX, token, BOX.digest("another secret value"), stored)
    # Stored under a key since rotated away from (kept as BRIDGE_SECRET_KEY_PREVIOUS): it works.
    rotated = SecretBox("n" * 43, "k" * 43)
    assert token_matches(rotated, token, secret_digest, stored)


@pytest.mark.parametrize(
    ("header", "token", "let_in"),
    [
        (SECRET, None, True),
        (None, "right", True),
        (SECRET, "right", True),
        ("wrong-secret-value", "right", True),
        (SECRET, "wrong", True),
        ("wrong-secret-value", "wrong", False),
        (None, "wrong", False),
        ("wrong-secret-value", None, False),
        ("", "", False),
        (None, None, False),
    ],
)
def test_either_credential_lets_a_webhook_in(
    header: str | None, token: str | None, let_in: bool
) -> None:
    secret_digest = BOX.digest(SECRET)
    right = url_token(SECRET, "4")
    presented = {"right": right, "wrong": url_token("other secret", "4")}.get(token or "", token)
    stored = token_digest(BOX, secret_digest, right)
    assert (
        authenticated(
            BOX, header=header, token=presented, secret_digest=secret_digest, token_digest=stored
        )
        is let_in
    )


def test_the_url_carries_the_token_in_its_query_and_prints_it_masked() -> None:
    token = url_token(SECRET, "4")
    url = webhook_url("https://bridge.example", "4", token)
    assert url == f"{HOOK}?{WEBHOOK_TOKEN_PARAM}={token}"
    assert webhook_url("https://bridge.example", "4") == HOOK
    assert url_token_in(url) == token
    assert url_token_in(HOOK) is None
    assert url_token_in(f"{HOOK}?a=1&token=x&token=y") == "y", "the last, as the endpoint reads"
    assert shown_url(url) == f"{HOOK}?token=***"
    assert shown_url("https://u:p@other.example/h?k=v&flag") == "https://other.example/h?k=***&***"
    # The logs mask the same parameter, wherever a library writes the URL.
    assert token not in redact(f"POST {url} HTTP/1.1")


def test_a_url_is_ours_whatever_token_it_carries_and_the_answer_must_keep_it() -> None:
    token = url_token(SECRET, "4")
    url = f"{HOOK}?token={token}"
    assert same_url(url, HOOK)
    assert same_url(f"{HOOK}/?token=other", url)
    assert not same_url(f"{HOOK}?other=1", url)
    sent = webhook_request(url, SECRET, CurrentWebhook(WebhookOwner.NONE))
    fields = sent.to_api()
    assert answer_problems(sent, ShopWebhook.from_api(fields)) == []
    dropped = {**fields, "webhook_url": HOOK}
    assert answer_problems(sent, ShopWebhook.from_api(dropped)) == [
        "webhook_url does not carry the token as sent"
    ]
    elsewhere = {**fields, "webhook_url": "https://elsewhere.example/x?k=1"}
    [problem] = answer_problems(sent, ShopWebhook.from_api(elsewhere))
    assert problem == f"webhook_url is https://elsewhere.example/x?k=***, not {HOOK}?token=***"
    assert token not in repr(CurrentWebhook(WebhookOwner.HERE, sent))


def test_the_doctor_reads_the_token_in_the_url() -> None:
    token = url_token(SECRET, "4")

    def problems(url: str) -> list[tuple[str, str]]:
        current = CurrentWebhook(WebhookOwner.HERE, ShopWebhook(url=url))
        return webhook_problems(current, lambda _: True, lambda t: t == token, "4")

    assert problems(f"{HOOK}?token={token}") == []
    assert problems(HOOK) == [], "the header may be enough: a doubt, not a problem"
    assert lacks_token(CurrentWebhook(WebhookOwner.HERE, ShopWebhook(url=HOOK)))
    assert problems(f"{HOOK}?token=stale") == [
        ("the token in its URL is not shop 4's", "`bridge shops connect 4`")
    ]


@pytest.mark.parametrize(
    ("body", "ping"),
    [
        (b'{"test":true}', True),  # as saved from prod (13 bytes)
        (b'{ "test" : true }\n', True),
        (b'{"test": 1}', False),
        (b'{"test": false}', False),
        (b'{"test": "true"}', False),
        (b'{"test": true, "type": "orders", "id": 1, "status": 1, "items": []}', False),
        (b'[{"test": true}]', False),
        (b"", False),
        (b"\xff\xfe", False),
        (b'{"test": true' + b" " * PING_MAX_BYTES + b"}", False),
    ],
)
def test_the_ping_is_exactly_test_true(body: bytes, ping: bool) -> None:
    assert is_ping(body) is ping
