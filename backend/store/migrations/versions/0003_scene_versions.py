"""Scene versions (immutable published layer sets) and the publish jobs that make them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import Json, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scenes") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "scene_versions",
        sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("layers", Json, nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=False),
        sa.Column("job_id", sa.String(36)),
    )
    op.create_table(
        "publish_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("scene_slug", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("base_version", sa.Integer, nullable=False),
        sa.Column("layer_key", sa.String(64)),
        sa.Column("upload_sha256", sa.String(64)),
        sa.Column("upload_name", sa.String(200)),
        sa.Column("source_path", sa.String(1000)),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.String(2000)),
        sa.Column("error_retryable", sa.Boolean),
        sa.Column("result_version", sa.Integer),
        sa.Column("unchanged", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime),
        sa.Column("finished_at", UtcDateTime),
    )
    op.create_index("ix_publish_jobs_scene_created", "publish_jobs", ["scene_slug", "created_at"])
    op.create_index("ix_publish_jobs_status", "publish_jobs", ["status"])


def downgrade() -> None:
    op.drop_table("publish_jobs")
    op.drop_table("scene_versions")
    with op.batch_alter_table("scenes") as batch:
        batch.drop_column("version")
