"""indexes and retention for a year of orders

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # a slot reserved in advance so parallel work never forks the chain; filled by its change


def downgrade() -> None:
    pass
