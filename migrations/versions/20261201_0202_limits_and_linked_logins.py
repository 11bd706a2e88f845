"""rate_limit_counters (shared limits on redirects, QR codes and pairing codes), and
wa_sessions.linked_at (linked logins are resumed before unscanned ones are started)

Revision ID: gateway_0202
Revises: gateway_0201
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gateway_0202"
down_revision: str | None = "gateway_0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_rate_limit_counters"),
    )
    op.create_index("ix_rate_limit_counters_expires_at", "rate_limit_counters", ["expires_at"])
    op.add_column("wa_sessions", sa.Column("linked_at", sa.DateTime(timezone=True)))
    # Sessions that are or were connected have a phone: count them as linked.
    op.execute("UPDATE wa_sessions SET linked_at = updated_at WHERE phone IS NOT NULL")


def downgrade() -> None:
    op.drop_column("wa_sessions", "linked_at")
    op.drop_index("ix_rate_limit_counters_expires_at", table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
