"""supplier readings: what the workers last read of each supplier (balance, catalogue) for the
console, which no longer calls a supplier on a page view

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supplier_readings",
        sa.Column("supplier_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("read_at", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("error_at", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("wanted_at", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("taken_at", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("supplier_name", "kind"),
    )


def downgrade() -> None:
    op.drop_table("supplier_readings")
