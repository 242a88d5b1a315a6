"""worker heartbeats: who holds a purchase, and whether it was sent

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import bridge.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_processes",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", bridge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", bridge.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("worker_processes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worker_processes_beat_at"), ["beat_at"], unique=False)
    with op.batch_alter_table("purchase_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("worker_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("sent_at", bridge.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_purchase_attempts_worker_id"), ["worker_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("purchase_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_attempts_worker_id"))
        batch_op.drop_column("sent_at")
        batch_op.drop_column("worker_id")
    with op.batch_alter_table("worker_processes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_processes_beat_at"))
    op.drop_table("worker_processes")
