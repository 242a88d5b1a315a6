"""shops can be disabled (orders recorded, not bought)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridge.db

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every shop served so far stays served.
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("disabled_at", bridge.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("enabled")
