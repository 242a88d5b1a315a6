"""new sales only: each shop fulfils orders created from a moment on; orders keep what the last
read saw (creation time, items digest), whether they predate the shop and who asked to fulfil one
anyway; the console audit names orders too

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A shop already served fulfils what was created since it was added, as a new one does.
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fulfil_from", bridge.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE pancake_shops SET fulfil_from = created_at")
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.alter_column(
            "fulfil_from", existing_type=bridge.db.UTCDateTime(timezone=True), nullable=False
        )

    # Orders read before this have no digest: their next trigger report falls back to the item
    # count, and the read it causes stores one.
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("placed_at", bridge.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("items_digest", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("predates_shop", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("fulfil_asked_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("fulfil_asked_at", bridge.db.UTCDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_pk", sa.Integer(), nullable=True))
        batch_op.alter_column("fulfilment_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_console_audit_order_pk"), ["order_pk"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM console_audit WHERE fulfilment_id IS NULL")
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_audit_order_pk"))
        batch_op.alter_column("fulfilment_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("order_pk")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("fulfil_asked_at")
        batch_op.drop_column("fulfil_asked_by")
        batch_op.drop_column("predates_shop")
        batch_op.drop_column("items_digest")
        batch_op.drop_column("placed_at")
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.drop_column("fulfil_from")
