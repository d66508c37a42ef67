"""Stamp and treasure tours: tours, each visitor's tracker and stamps, badges, and the
transfer codes that carry a visitor's progress to another device.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import Json, UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stamp_tours",
        sa.Column("id", sa.String(130), primary_key=True),
        sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("body", Json, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "stamp_trackers",
        sa.Column("visitor_id", sa.String(64), primary_key=True),
        sa.Column("tour_id", sa.String(130), primary_key=True),
        sa.Column("lat_deg", sa.Float, nullable=False),
        sa.Column("lon_deg", sa.Float, nullable=False),
        sa.Column("height_m", sa.Float, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("dwell_stop", sa.Integer),
        sa.Column("dwell_s", sa.Float, nullable=False),
    )
    op.create_table(
        "stamps",
        sa.Column("visitor_id", sa.String(64), primary_key=True),
        sa.Column("tour_id", sa.String(130), primary_key=True),
        sa.Column("stop_index", sa.Integer, primary_key=True),
        sa.Column("earned_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "badges",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("visitor_id", sa.String(64), nullable=False),
        sa.Column("tour_id", sa.String(130), nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("visitor_id", "tour_id", name="uq_badges_visitor_tour"),
    )
    op.create_table(
        "transfer_codes",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("visitor_id", sa.String(64), nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("used_at", UtcDateTime),
    )


def downgrade() -> None:
    for table in ("transfer_codes", "badges", "stamps", "stamp_trackers", "stamp_tours"):
        op.drop_table(table)
