"""Lenient readers for JSON values that PHP-backed APIs send as numbers or as strings."""

from __future__ import annotations


def as_int(value: object) -> int | None:
    """``12`` and ``"12"`` are 12; booleans, floats, blanks and words are None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None
