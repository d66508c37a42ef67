"""Public participation: comments with their moderation state, idempotency keys, and the
moderation mode of each scene.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scenes") as batch:
        batch.add_column(
            sa.Column("moderation", sa.String(8), nullable=False, server_default="post")
        )
    op.create_table(
        "comments",
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
        sa.Column("scenario_id", sa.String(130)),
        sa.Column("scenario_version", sa.Integer),
        sa.Column("lat_deg", sa.Float),
        sa.Column("lon_deg", sa.Float),
        sa.Column("height_m", sa.Float),
        sa.Column("poi_id", sa.String(130)),
        sa.Column("on_date", sa.Date),
        sa.Column("parent_id", sa.String(36)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("author_name", sa.String(40)),
        sa.Column("official", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rejection_reason", sa.String(300)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("moderated_at", UtcDateTime),
    )
    op.create_index("ix_comments_scene_status", "comments", ["scene_slug", "status", "row"])
    op.create_index("ix_comments_author_created", "comments", ["author_id", "created_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(64), primary_key=True),  # who: a visitor id or "organiser"
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("result_id", sa.String(130), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("comments")
    with op.batch_alter_table("scenes") as batch:
        batch.drop_column("moderation")
