"""Initial schema: regions, scenes, POIs with spatial and text indexes, tours, live sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.column_types import Json, TokenList, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("slug", sa.String(64), primary_key=True),
        sa.Column("name", Json, nullable=False),
        sa.Column("province", Json),
        sa.Column("south_deg", sa.Float, nullable=False),
        sa.Column("west_deg", sa.Float, nullable=False),
        sa.Column("north_deg", sa.Float, nullable=False),
        sa.Column("east_deg", sa.Float, nullable=False),
        sa.Column("default_locales", Json, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "scenes",
        sa.Column("slug", sa.String(64), primary_key=True),
        sa.Column("region_slug", sa.String(64), sa.ForeignKey("regions.slug"), nullable=False),
        sa.Column("name", Json, nullable=False),
        sa.Column("description", Json),
        sa.Column("origin_lat_deg", sa.Float, nullable=False),
        sa.Column("origin_lon_deg", sa.Float, nullable=False),
        sa.Column("origin_height_m", sa.Float, nullable=False),
        sa.Column("extent_east_m", sa.Float, nullable=False),
        sa.Column("extent_north_m", sa.Float, nullable=False),
        sa.Column("layers", Json, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_scenes_region_slug", "scenes", ["region_slug"])
    op.create_table(
        "pois",
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(130), nullable=False, unique=True),
        sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("lat_deg", sa.Float, nullable=False),
        sa.Column("lon_deg", sa.Float, nullable=False),
        sa.Column("height_m", sa.Float, nullable=False),
        sa.Column("anchor_m", Json),
        sa.Column("name", Json, nullable=False),
        sa.Column("description", Json),
        sa.Column("tags", Json, nullable=False),
        sa.Column("opening_hours", Json),
        sa.Column("opening_hours_note", Json),
        sa.Column("accessibility", Json),
        sa.Column("media", Json, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("name_text", sa.Text, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("search_tokens", TokenList, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("scene_slug", "key", name="uq_pois_scene_key"),
    )
    op.create_index("ix_pois_category", "pois", ["category"])
    op.create_table(
        "tours",
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(130), nullable=False, unique=True),
        sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", Json, nullable=False),
        sa.Column("description", Json),
        sa.Column("estimated_duration_min", sa.Integer),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("scene_slug", "key", name="uq_tours_scene_key"),
    )
    op.create_table(
        "tour_stops",
        sa.Column(
            "tour_row",
            sa.Integer,
            sa.ForeignKey("tours.row", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column(
            "poi_row", sa.Integer, sa.ForeignKey("pois.row", ondelete="RESTRICT"), nullable=False
        ),
        sa.Column("dwell_min", sa.Integer, nullable=False),
        sa.Column("camera", Json, nullable=False),
        sa.Column("narration", Json),
    )
    op.create_index("ix_tour_stops_poi_row", "tour_stops", ["poi_row"])
    op.create_table(
        "live_sessions",
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(130), nullable=False, unique=True),
        sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("title", Json, nullable=False),
        sa.Column("description", Json),
        sa.Column("host", Json),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("ends_at", UtcDateTime, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tour_key", sa.String(64)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("scene_slug", "key", name="uq_live_sessions_scene_key"),
    )
    op.create_index("ix_live_sessions_status_starts", "live_sessions", ["status", "starts_at"])

    if op.get_context().dialect.name == "postgresql":
        _postgresql_indexes()
    else:
        _sqlite_indexes()


def _postgresql_indexes() -> None:
    # GiST over the point lets bbox and radius prefilters use the index (`<@ box`).
    op.execute("CREATE INDEX ix_pois_location ON pois USING gist (point(lon_deg, lat_deg))")
    op.execute("CREATE INDEX ix_pois_search_tokens ON pois USING gin (search_tokens)")


def _sqlite_indexes() -> None:
    # R*Tree over each POI's point (a degenerate box), kept in step by triggers.
    op.execute("CREATE VIRTUAL TABLE poi_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat)")
    # External-content FTS5 over the n-gram tokens; remove_diacritics 0 keeps tokens exact.
    op.execute(
        "CREATE VIRTUAL TABLE poi_fts USING fts5(search_tokens, content='pois', "
        "content_rowid='row', tokenize='unicode61 remove_diacritics 0', detail='none')"
    )
    op.execute(
        """CREATE TRIGGER pois_after_insert AFTER INSERT ON pois BEGIN
             INSERT INTO poi_rtree VALUES (new.row, new.lon_deg, new.lon_deg,
                                           new.lat_deg, new.lat_deg);
             INSERT INTO poi_fts(rowid, search_tokens) VALUES (new.row, new.search_tokens);
           END"""
    )
    op.execute(
        """CREATE TRIGGER pois_after_delete AFTER DELETE ON pois BEGIN
             DELETE FROM poi_rtree WHERE id = old.row;
             INSERT INTO poi_fts(poi_fts, rowid, search_tokens)
               VALUES ('delete', old.row, old.search_tokens);
           END"""
    )
    op.execute(
        """CREATE TRIGGER pois_after_update AFTER UPDATE ON pois BEGIN
             UPDATE poi_rtree SET min_lon = new.lon_deg, max_lon = new.lon_deg,
                                  min_lat = new.lat_deg, max_lat = new.lat_deg
               WHERE id = new.row;
             INSERT INTO poi_fts(poi_fts, rowid, search_tokens)
               VALUES ('delete', old.row, old.search_tokens);
             INSERT INTO poi_fts(rowid, search_tokens) VALUES (new.row, new.search_tokens);
           END"""
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for trigger in ("pois_after_insert", "pois_after_delete", "pois_after_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS poi_fts")
        op.execute("DROP TABLE IF EXISTS poi_rtree")
    for table in ("live_sessions", "tour_stops", "tours", "pois", "scenes", "regions"):
        op.drop_table(table)
