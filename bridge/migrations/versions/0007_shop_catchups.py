"""shop catchups: how far the catch-up for missed webhooks has read each shop's orders

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:09:01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shop_catchups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("caught_up_until", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("requested_at", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", name="uq_shop_catchups_shop"),
    )


def downgrade() -> None:
    op.drop_table("shop_catchups")
