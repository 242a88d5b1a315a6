"""delivery ends: when each line's wait for its supplier began, so no line waits unseen

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bridge.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Lines already waiting get it at their next poll: the give-up time counts from the upgrade.
    with op.batch_alter_table("fulfilments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("waiting_since", bridge.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("fulfilments", schema=None) as batch_op:
        batch_op.drop_column("waiting_since")
