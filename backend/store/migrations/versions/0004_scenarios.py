"""Development scenarios: every version of every scenario of a scene.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import Json, UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scenarios",
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("body", Json, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("withdrawn_at", UtcDateTime),
        sa.UniqueConstraint("scene_slug", "key", "version", name="uq_scenarios_version"),
    )


def downgrade() -> None:
    op.drop_table("scenarios")
