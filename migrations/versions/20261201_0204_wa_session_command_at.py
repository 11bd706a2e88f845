"""wa-session: wa_sessions.command_at (when the last applied start/stop/logout was asked for)
and wiped_at (when the auth state was last wiped)

Commands are consumed concurrently, so a stop can be handled before the start it follows; each
carries when it was asked for: a start or stop older than the last applied is ignored, and a
logout asked for before the last wipe was carried out already.

Revision ID: wa_session_0204
Revises: gateway_0203
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "wa_session_0204"
down_revision: str | None = "gateway_0203"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("wa_sessions", sa.Column("command_at", sa.DateTime(timezone=True)))
    op.add_column("wa_sessions", sa.Column("wiped_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("wa_sessions", "wiped_at")
    op.drop_column("wa_sessions", "command_at")
