"""Structured accessibility facts of POIs (step-free entrance, accessible toilet ...).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import Json

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pois") as batch:
        batch.add_column(sa.Column("access", Json, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("pois") as batch:
        batch.drop_column("access")
