"""Polls on scenarios and their ballots (one per voter and poll).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import Json, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
        sa.Column("scenario_key", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("body", Json, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "ballots",
        sa.Column("poll_id", sa.String(200), sa.ForeignKey("polls.id"), primary_key=True),
        sa.Column("voter_id", sa.String(64), primary_key=True),
        sa.Column("choices", Json, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ballots")
    op.drop_table("polls")
