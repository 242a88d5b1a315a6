"""What a command on mappings acts on: a whole mapping (shop and variation) or one choice, as
the operator named it; and which choice an edit of choice values on a whole mapping means.

The command line and the console name targets the same way; a target that cannot be told is a
``TargetError`` naming the option (or form field) to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.errors import ConfigError

# The ORM is imported by the functions that read with it: `mappings show` resolves its target
# through the driver (bridge/cli/reads.py) and takes only Target and TargetError from here.
if TYPE_CHECKING:
    from sqlmodel import Session


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


def resolve_target(
    session: Session, shop: str | None, variation: str | None, choice: int | None
) -> Target:
    """The mapping (``variation``, its shop found when one shop maps it) or the choice named;
    exactly one of ``variation`` and ``choice`` is given."""
    from mappings import repository

    if (variation is None) == (choice is None):
        raise TargetError(
            "give --variation (the whole mapping) or --choice ID (one choice)",
            "'--variation' / '--choice'",
        )
    if choice is not None:
        found = repository.get_choice(session, choice)
        if shop is not None and shop != found.shop_id:
            raise TargetError(f"choice {choice} belongs to shop {found.shop_id}", "'--shop'")
        return Target(found.shop_id, found.variation_id, choice)
    assert variation is not None
    return Target(repository.shop_of(session, variation, shop), variation, None)


def edited_choice(session: Session, target: Target) -> int:
    """The choice an edit of choice values means: the one named, or a mapping's only choice."""
    from mappings import repository

    if target.choice_id is not None:
        return target.choice_id
    mapping = repository.get_mapping(session, target.shop_id, target.variation_id)
    ids = [c.id for c in mapping.choices if c.id is not None]
    if len(ids) > 1:
        raise TargetError(
            f"the mapping has choices {', '.join(map(str, ids))}: say which with --choice",
            "'--choice'",
        )
    return ids[0]
