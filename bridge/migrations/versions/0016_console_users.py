"""console: users, login throttling and the audit of credential reveals

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("password_set_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username", name="uq_console_users_username"),
    )
    op.create_table(
        "console_login_throttle",
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    with op.batch_alter_table("console_login_throttle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_login_throttle_window_started_at"),
            ["window_started_at"],
            unique=False,
        )
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fulfilment_id", sa.Integer(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_audit_action"), ["action"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_console_audit_fulfilment_id"), ["fulfilment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_audit_fulfilment_id"))
        batch_op.drop_index(batch_op.f("ix_console_audit_action"))
    op.drop_table("console_audit")
    with op.batch_alter_table("console_login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_login_throttle_window_started_at"))
    op.drop_table("console_login_throttle")
    op.drop_table("console_users")
