"""webhook events without bodies: drop webhook_events.body (echoed notes carried credentials)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The bodies are dropped, not moved: no reader ever used them (intake reads the order from
    # the Pancake API), and Pancake's echo of the note put delivered credentials in them.
    # Blanked first, so their text is overwritten rather than only unlinked: SQLite zeroes what
    # it frees under secure_delete; PostgreSQL's DROP COLUMN alone would leave every value in
    # the table's files. (VACUUM, outside any transaction, reclaims the space afterwards.)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA secure_delete = ON")
    op.execute("UPDATE webhook_events SET body = ''")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("body")


def downgrade() -> None:
    # The bodies are gone for good; an older release reads the rows with an empty body.
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=False, server_default=""))
