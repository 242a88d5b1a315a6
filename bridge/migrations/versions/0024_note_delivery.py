"""note delivery: each shop says which of an order's notes gets the credentials (note,
note_print or both)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A shop already served keeps writing where it always did: the internal note.
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "deliver_to",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=False,
                server_default="note",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("pancake_shops", schema=None) as batch_op:
        batch_op.drop_column("deliver_to")
