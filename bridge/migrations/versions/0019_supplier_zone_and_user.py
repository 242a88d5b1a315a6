"""supplier zone and user: each supplier's zone and key user, and a line's further orders

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(sa.Column("zone_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # The stored clocks mixed timestamp readings with created_at readings taken as UTC+7: what
    # they hold may be the zone's error, not the clock's. The next answer measures it again.
    op.execute("UPDATE suppliers SET clock_low_seconds = NULL, clock_high_seconds = NULL")
    op.execute("UPDATE suppliers SET clock_measured_at = NULL")
    with op.batch_alter_table("purchase_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("part_of", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_purchase_attempts_part_of"), ["part_of"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("purchase_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_attempts_part_of"))
        batch_op.drop_column("part_of")
    with op.batch_alter_table("suppliers", schema=None) as batch_op:
        batch_op.drop_column("user_id")
        batch_op.drop_column("zone_minutes")
        batch_op.drop_column("timezone")
