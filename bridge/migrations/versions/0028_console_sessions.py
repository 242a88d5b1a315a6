"""console sessions kept on the server (logout, password change and user removal end them at once)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # a slot reserved in advance so parallel work never forks the chain; filled by its change


def downgrade() -> None:
    pass
