"""What a command on mappings acts on: a whole mapping (shop and variation) or one choice, as
the operator named it; and which choice an edit of choice values on a whole mapping means.

The command line and the console name targets the same way; a target that cannot be told is a
``TargetError`` naming the option (or form field) to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.errors import ConfigError, NotFound


class TargetError(ConfigError):
    """The target cannot be told from what was given; ``param`` names what to give."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Target:
    """What a command acts on: a whole mapping, or one choice of it."""

    shop_id: str
    variation_id: str
    choice_id: int | None

    def describe(self) -> str:
        where = f"shop {self.shop_id} variation {self.variation_id}"
        return where if self.choice_id is None else f"choice {self.choice_id} ({where})"


def missing_choice(choice_id: int) -> NotFound:
    """A choice id that names no choice."""
    return NotFound(f"no choice {choice_id}: `bridge mappings list` shows their ids")


def target_from(
    shop: str | None,
    variation: str | None,
    choice: int | None,
    *,
    place_of_choice: Callable[[int], tuple[str, str] | None],
    shops_mapping: Callable[[str], Sequence[str]],
) -> Target:
    """The mapping (``variation``, its shop found when one shop maps it: Pancake variation ids
    are UUIDs, so one is the rule) or the choice named; exactly one of ``variation`` and
    ``choice`` is given. The two lookups read the database: ``place_of_choice`` a choice's
    (shop, variation), None for none; ``shops_mapping`` the shops that map a variation. The
    ORM (``resolve_target``) and the CLI's reads through the driver (``bridge/cli/reads.py``)
    pass their own.

    Nothing here reads the database: `mappings show` resolves its target through the driver and
    imports no ORM. The ORM's readers are ``mappings.repository.resolve_target`` and
    ``edited_choice``."""
    if (variation is None) == (choice is None):
        raise TargetError(
            "give --variation (the whole mapping) or --choice ID (one choice)",
            "'--variation' / '--choice'",
        )
    if choice is not None:
        place = place_of_choice(choice)
        if place is None:
            raise missing_choice(choice)
        choice_shop, choice_variation = place
        if shop is not None and shop != choice_shop:
            raise TargetError(f"choice {choice} belongs to shop {choice_shop}", "'--shop'")
        return Target(choice_shop, choice_variation, choice)
    assert variation is not None
    if shop is not None:
        return Target(shop, variation, None)
    shops = sorted(set(shops_mapping(variation)))
    if not shops:
        raise NotFound(f"variation {variation} has no mapping")
    if len(shops) > 1:
        raise ConfigError(
            f"variation {variation} is mapped in shops {', '.join(shops)}: say which with --shop"
        )
    return Target(shops[0], variation, None)
