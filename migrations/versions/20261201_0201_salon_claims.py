"""gateway: companies.claimed_until, how long a pending salon stays bound to the YClients user
who opened it

Revision ID: gateway_0201
Revises: wa_session_0101
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gateway_0201"
down_revision: str | None = "wa_session_0101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("companies", sa.Column("claimed_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("companies", "claimed_until")
