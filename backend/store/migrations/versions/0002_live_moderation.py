"""Live-session moderation audit log (mute, kick, ban, unban); bans are derived from it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_moderation",
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(130), nullable=False),
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.BigInteger, nullable=False),
        sa.Column("actor_name", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    op.create_index(
        "ix_live_moderation_session_member", "live_moderation", ["session_id", "member_id", "row"]
    )


def downgrade() -> None:
    op.drop_table("live_moderation")
