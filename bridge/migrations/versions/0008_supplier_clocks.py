"""supplier clocks: each supplier's clock offset as measured against ours

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridge.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_low_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("clock_high_seconds", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("clock_measured_at", bridge.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.drop_column("clock_measured_at")
        batch_op.drop_column("clock_high_seconds")
        batch_op.drop_column("clock_low_seconds")
