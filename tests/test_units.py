"""Small pure pieces: note blocks, secrets, webhook parsing, settings, line keys."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bridge.errors import SettingsError
from bridge.pancake.schemas import PancakeOrderItem
from bridge.pancake.webhooks import WebhookRejected, parse_webhook
from bridge.secrets import SecretBox
from bridge.settings import Settings
from workers.fulfilment.notes import (
    append_blocks,
    render_block,
    render_delay_notice,
    unwritten,
    without_delay_notice,
)
from workers.fulfilment.reconcile import line_keys


def test_a_delay_notice_is_taken_out_alone() -> None:
    note = append_blocks(
        "Khách quen\n[pancake-bridge #1]: giao lúc 9h",
        [render_delay_notice(1, "Netflix"), render_delay_notice(12, "Canva")],
    )
    cleaned = without_delay_notice(note, 1)
    assert cleaned == append_blocks(
        "Khách quen\n[pancake-bridge #1]: giao lúc 9h",
        [render_delay_notice(12, "Canva")],
    )
    assert without_delay_notice(cleaned, 1) == cleaned


def test_note_blocks_keep_staff_text_and_are_recognisable() -> None:
    block = render_block(7, "Netflix x1", ["Account: a@b.c | Pass: x"])
    assert block.splitlines()[0] == "==== pancake-bridge #7 ===="
    assert block.splitlines()[-1] == "==== end #7 ===="
    note = append_blocks("Khách VIP\n", [block])
    assert note == "Khách VIP\n\n" + block
    assert unwritten(note, ["Account: a@b.c | Pass: x", "Account: new"]) == ["Account: new"]
    assert append_blocks("", [block]) == block
    assert append_blocks("  ", [block, block]) == block + "\n\n" + block


def test_secret_box_round_trip_digest_and_wrong_key() -> None:
    box = SecretBox("k" * 32)
    token = box.encrypt("sk_live_secret")
    assert "sk_live_secret" not in token
    assert box.decrypt(token) == "sk_live_secret"
    digest = box.digest("webhook-secret")
    assert box.matches("webhook-secret", digest)
    assert not box.matches("webhook-secreT", digest)
    with pytest.raises(ValueError, match="BRIDGE_SECRET_KEY") as caught:
        SecretBox("x" * 32).decrypt(token)
    assert token not in str(caught.value)


def test_parse_webhook_shapes_and_ids() -> None:
    flat = parse_webhook(b'{"type": "orders", "id": 12, "status": "1", "items": [{}, {}]}')
    assert (flat.kind, flat.order_id, flat.order_status, flat.item_count) == ("orders", "12", 1, 2)
    wrapped = parse_webhook(b'{"data": {"record": {"type": "orders", "id": "AF1O5", "status": 1}}}')
    assert (wrapped.kind, wrapped.order_id) == ("orders", "AF1O5")
    untyped = parse_webhook(b'{"data": {"id": 5, "status": 0, "items": []}}')
    assert (untyped.kind, untyped.order_id, untyped.order_status) == ("orders", "5", 0)
    big = parse_webhook(b'{"type": "orders", "id": 123456789012345678, "status": 1}')
    assert big.order_id == "123456789012345678"
    a = parse_webhook(b'{"type": "orders", "id": 1, "status": 1}')
    b = parse_webhook(b'{"status": 1, "id": 1, "type": "orders"}')
    assert a.body_hash == b.body_hash, "key order does not matter"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"nope",
        b"[]",
        b"1",
        b'{"type": "orders", "id": true}',
        b'{"type": "orders"}',
    ],
)
def test_parse_webhook_rejects_with_one_line_reasons(raw: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse_webhook(raw)
    assert "\n" not in str(caught.value)


def test_an_object_without_a_type_is_a_kind_to_ignore_not_an_error() -> None:
    assert parse_webhook(b'{"a": 1}').kind == "unknown"
    assert parse_webhook(b'{"data": {"record": {"Email": ""}}, "success": true}').kind == "unknown"


@pytest.mark.parametrize("value", [None, "", "changeme", "short-key"])
def test_settings_refuse_missing_or_placeholder_secret_keys(value: str | None) -> None:
    settings = Settings(secret_key=SecretStr(value) if value is not None else None)
    with pytest.raises(SettingsError):
        settings.require_secret_key()
    assert "changeme" not in repr(Settings(secret_key=SecretStr("changeme")))


def test_line_keys_are_stable_and_unique() -> None:
    items = [
        PancakeOrderItem(id="11", variation_id="v1", product_id=None, quantity=1, name=None),
        PancakeOrderItem(id=None, variation_id="v2", product_id=None, quantity=1, name=None),
        PancakeOrderItem(id=None, variation_id="v2", product_id=None, quantity=2, name=None),
        PancakeOrderItem(id=None, variation_id=None, product_id=None, quantity=1, name=None),
    ]
    keys = line_keys(items)
    assert keys == ["item:11", "var:v2#1", "var:v2#2", "var:line3#1"]
    assert line_keys(items) == keys


def test_settings_refuse_a_lease_shorter_than_a_purchase_can_take() -> None:
    with pytest.raises(ValueError, match="BRIDGE_LEASE_SECONDS"):
        Settings(lease_seconds=30, supplier_timeout_seconds=30)
    assert Settings(lease_seconds=61, supplier_timeout_seconds=30).lease_seconds == 61


def test_default_triggers_are_confirmed_or_beyond_and_never_a_cancelled_sale() -> None:
    from bridge.pancake.models import DEFAULT_TRIGGER_STATUSES
    from bridge.pancake.vocabulary import CANCELLING, CONFIRMED_OR_BEYOND

    assert set(DEFAULT_TRIGGER_STATUSES) == CONFIRMED_OR_BEYOND
    assert not CONFIRMED_OR_BEYOND & CANCELLING
