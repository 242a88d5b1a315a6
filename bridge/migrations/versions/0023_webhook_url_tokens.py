"""webhook URL tokens: a shop's webhook URL may carry a token (kept as a digest), for a Pancake
that sends no custom header

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: a shop connected before has no token, and its header still works.
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhook_token_digest", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.drop_column("webhook_token_digest")
