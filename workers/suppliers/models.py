"""What the workers last read of each supplier for the console to show (``readings``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from bridge.db import optional_timestamp


class ReadingKind(StrEnum):
    BALANCE = "balance"  # account/balance, or an orders/create answer's new_balance
    CATALOGUE = "catalogue"  # products/list, every page: the mapping pickers' plans


class SupplierReading(SQLModel, table=True):
    """One kind of reading of one supplier: the last value read and when, the last failure,
    and whether the console asked the workers for a fresh one (``wanted_at``)."""

    __tablename__ = "supplier_readings"

    supplier_name: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)  # a ReadingKind
    value: str | None = Field(default=None, sa_type=Text)  # JSON
    read_at: datetime | None = optional_timestamp()
    # The last read that failed (kept after a later success too: read_at tells which is newer).
    error: str | None = None
    error_at: datetime | None = optional_timestamp()
    wanted_at: datetime | None = optional_timestamp()
    # When a step took the request (wanted_at is then cleared): the workers are reading it.
    taken_at: datetime | None = optional_timestamp()
