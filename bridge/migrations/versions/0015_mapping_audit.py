"""mappings: disabled choices and the audit trail of every change

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 10:30:00

``mapping_variations`` holds what belongs to a mapped variation as a whole (its name, whether it
is enabled); a variation without a row is enabled, so no existing mapping needs one.
``mapping_audit`` is the trail of every change: who, when, before and after.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mapping_variations",
        sa.Column("shop_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("variation_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "variation_id"),
    )
    op.create_table(
        "mapping_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("shop_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("variation_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("choice_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mapping_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mapping_audit_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_mapping_audit_variation", ["shop_id", "variation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mapping_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_mapping_audit_variation")
        batch_op.drop_index(batch_op.f("ix_mapping_audit_at"))
    op.drop_table("mapping_audit")
    op.drop_table("mapping_variations")
