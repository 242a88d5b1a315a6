"""`bridge doctor` on a shop whose stock warehouse is configured: one that takes no orders (its
stock would never be sold) or that Pancake does not list is a problem, with what to do."""

from __future__ import annotations

import pytest

from tests.cli.test_doctor_shops import World, doctor, run, world

__all__ = ["world"]  # the sound world of test_doctor_shops: shop 4 connected, one supplier


def configure(capsys: pytest.CaptureFixture[str], warehouse: str) -> None:
    code, _, err = run(capsys, "shops", "add", "4", "--warehouse-id", warehouse)
    assert code == 0, err


def test_a_configured_warehouse_that_takes_no_orders_is_a_problem(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    [store] = [w["id"] for w in world.pancake.warehouses("4")]
    counter = world.pancake.add_warehouse("4", name="Kho bán hàng")
    configure(capsys, store)

    code, found = doctor(capsys)
    assert (code, found["shop 4 warehouse"]) == (0, ("ok", f"{store} takes orders"))

    world.pancake.set_allow_create_order("4", store, False)
    code, found = doctor(capsys)
    status, detail = found["shop 4 warehouse"]
    assert (code, status) == (1, "PROBLEM")
    assert detail.startswith(f"{store} takes no orders (allow_create_order false)")
    assert f"those that do: {counter}" in detail
    assert "bridge shops add 4 --warehouse-id" in detail

    configure(capsys, "deleted-warehouse")
    code, found = doctor(capsys)
    assert code == 1
    assert found["shop 4 warehouse"][1].startswith("deleted-warehouse is not listed by Pancake")

    configure(capsys, "")  # none configured: stock goes where orders are taken
    code, found = doctor(capsys)
    assert code == 0
    assert "shop 4 warehouse" not in found
