"""wa-session: pending_action on wa_sessions (a logout asked of the lease owner)

Revision ID: wa_session_0101
Revises: 0001
Create Date: 2026-11-24 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "wa_session_0101"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("wa_sessions", sa.Column("pending_action", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("wa_sessions", "pending_action")
