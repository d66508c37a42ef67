"""Text alternatives and 2D/panorama fallback images for tour stops.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import Json

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tour_stops") as batch:
        batch.add_column(sa.Column("text_alternative", Json))
        batch.add_column(sa.Column("fallback_image_url", sa.String(2000)))


def downgrade() -> None:
    with op.batch_alter_table("tour_stops") as batch:
        batch.drop_column("fallback_image_url")
        batch.drop_column("text_alternative")
