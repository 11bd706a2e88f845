"""gateway: connections.login_requested_at, when the page last asked for a WhatsApp login

Revision ID: gateway_0203
Revises: gateway_0202
Create Date: 2026-12-01 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gateway_0203"
down_revision: str | None = "gateway_0202"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("connections", sa.Column("login_requested_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("connections", "login_requested_at")
