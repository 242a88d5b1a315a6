"""secret key check: one row whose token proves BRIDGE_SECRET_KEY at every start

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridge.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secret_key_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("marker_enc", sa.Text(), nullable=False),
        sa.Column("created_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("secret_key_check")
