"""sellable stock: the units Pancake holds for open orders (from its stock webhooks), and each
shop's warehouse listing with which ones take orders

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("variation_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("warehouse_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("updated_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "shop_id", "order_id", "variation_id", "warehouse_id", name="uq_stock_holds_key"
        ),
    )
    # A shop's listing is read again at its next sync (NULL: never read with the flags), so a
    # warehouse that takes no orders stops getting stock after the upgrade.
    with op.batch_alter_table("stock_shops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("listed", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stock_shops", schema=None) as batch_op:
        batch_op.drop_column("listed")
    op.drop_table("stock_holds")
