"""indexes for a year of orders: the dashboard's day, the orders list's order, the unmapped
variations, a shop's lines in flight, the week's purchases

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_updated", "orders", ["updated_at", "id"], unique=False)
    op.create_index("ix_fulfilments_created_at", "fulfilments", ["created_at"], unique=False)
    op.create_index(
        "ix_fulfilments_variation", "fulfilments", ["shop_id", "variation_id"], unique=False
    )
    op.create_index("ix_fulfilments_shop_state", "fulfilments", ["shop_id", "state"], unique=False)
    op.create_index(
        "ix_purchase_attempts_started_at", "purchase_attempts", ["started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_purchase_attempts_started_at", table_name="purchase_attempts")
    op.drop_index("ix_fulfilments_shop_state", table_name="fulfilments")
    op.drop_index("ix_fulfilments_variation", table_name="fulfilments")
    op.drop_index("ix_fulfilments_created_at", table_name="fulfilments")
    op.drop_index("ix_orders_updated", table_name="orders")
