"""choice max cost: the most a choice may cost per POS item, the plan's price when it was saved,
and each plan's price as the stock sync's last catalogue read showed it

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridge.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mappings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_cost", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("checked_price", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("checked_at", bridge.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("supplier_plan_shelves", schema=None) as batch_op:
        batch_op.add_column(sa.Column("final_price", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("supplier_plan_shelves", schema=None) as batch_op:
        batch_op.drop_column("final_price")
    with op.batch_alter_table("mappings", schema=None) as batch_op:
        batch_op.drop_column("checked_at")
        batch_op.drop_column("checked_price")
        batch_op.drop_column("max_cost")
