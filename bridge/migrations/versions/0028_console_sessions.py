"""console sessions kept on the server (logout, password change and user removal end them at once)

The session rows replace the users' session epoch, which a logout could not bump.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_sessions_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_console_sessions_seen_at"), ["seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_sessions_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_console_sessions_seen_at"))
        batch_op.drop_index(batch_op.f("ix_console_sessions_created_at"))
    op.drop_table("console_sessions")
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
