"""supplier refusals: each supplier plan's stock as the last catalogue read showed it, so a
choice that read sold out is tried after the others (the real server refuses it with CART_ERROR)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supplier_plan_shelves",
        sa.Column("supplier_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("is_instant", sa.Boolean(), nullable=False),
        sa.Column("stock_count", sa.Integer(), nullable=False),
        sa.Column("in_stock", sa.Boolean(), nullable=False),
        sa.Column("read_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("supplier_name", "plan_id"),
    )


def downgrade() -> None:
    op.drop_table("supplier_plan_shelves")
