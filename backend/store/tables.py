"""Table definitions: the current shape of the schema (migrations are its history)."""

from __future__ import annotations

import sqlalchemy as sa

from backend.store.column_types import Json, TokenList, UtcDateTime

metadata = sa.MetaData()

regions = sa.Table(
    "regions",
    metadata,
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

scenes = sa.Table(
    "scenes",
    metadata,
    sa.Column("slug", sa.String(64), primary_key=True),
    sa.Column("region_slug", sa.String(64), sa.ForeignKey("regions.slug"), nullable=False),
    sa.Column("name", Json, nullable=False),
    sa.Column("description", Json),
    sa.Column("origin_lat_deg", sa.Float, nullable=False),
    sa.Column("origin_lon_deg", sa.Float, nullable=False),
    sa.Column("origin_height_m", sa.Float, nullable=False),
    sa.Column("extent_east_m", sa.Float, nullable=False),
    sa.Column("extent_north_m", sa.Float, nullable=False),
    sa.Column("layers", Json, nullable=False),  # ordered; each with its per-tier assets
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # the published version ``layers`` are (a copy of scene_versions' row, for one read)
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("moderation", sa.String(8), nullable=False, server_default="post"),
    sa.Index("ix_scenes_region_slug", "region_slug"),
)

# Every published state of a scene's layers; rows are never changed or deleted.
scene_versions = sa.Table(
    "scene_versions",
    metadata,
    sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("layers", Json, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=False),
    sa.Column("job_id", sa.String(36)),
)

publish_jobs = sa.Table(
    "publish_jobs",
    metadata,
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
    sa.Index("ix_publish_jobs_scene_created", "scene_slug", "created_at"),
    sa.Index("ix_publish_jobs_status", "status"),
)

pois = sa.Table(
    "pois",
    metadata,
    # ``row`` is the integer key the spatial and text indexes point at.
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
    sa.Column("access", Json, nullable=False, server_default="[]"),  # AccessFact values
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("name_text", sa.Text, nullable=False),  # normalized names: relevance ranking
    sa.Column("search_text", sa.Text, nullable=False),  # normalized text: substring re-check
    sa.Column("search_tokens", TokenList, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("scene_slug", "key", name="uq_pois_scene_key"),
    sa.Index("ix_pois_category", "category"),
)

tours = sa.Table(
    "tours",
    metadata,
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

tour_stops = sa.Table(
    "tour_stops",
    metadata,
    sa.Column(
        "tour_row", sa.Integer, sa.ForeignKey("tours.row", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    # RESTRICT: a POI that a tour visits cannot vanish under it.
    sa.Column(
        "poi_row", sa.Integer, sa.ForeignKey("pois.row", ondelete="RESTRICT"), nullable=False
    ),
    sa.Column("dwell_min", sa.Integer, nullable=False),
    sa.Column("camera", Json, nullable=False),
    sa.Column("narration", Json),
    sa.Column("text_alternative", Json),
    sa.Column("fallback_image_url", sa.String(2000)),
    sa.Index("ix_tour_stops_poi_row", "poi_row"),
)

live_sessions = sa.Table(
    "live_sessions",
    metadata,
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
    sa.Column("version", sa.Integer, nullable=False),  # optimistic concurrency
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("scene_slug", "key", name="uq_live_sessions_scene_key"),
    sa.Index("ix_live_sessions_status_starts", "status", "starts_at"),
)

# Moderation inside live sessions: the audit log of every action, and (from it) the bans
# enforced at connect and resume. Append-only: an unban is a later row, not a delete.
live_moderation = sa.Table(
    "live_moderation",
    metadata,
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(130), nullable=False),
    sa.Column("member_id", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.BigInteger, nullable=False),
    sa.Column("actor_name", sa.String(64), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_live_moderation_session_member", "session_id", "member_id", "row"),
)

# Every version of every scenario; a version's body never changes once published (a
# revision is a new row). ``withdrawn_at`` marks scenarios no longer offered (their
# versions stay: comments and polls point at them).
scenarios = sa.Table(
    "scenarios",
    metadata,
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

comments = sa.Table(
    "comments",
    metadata,
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
    sa.Index("ix_comments_scene_status", "scene_slug", "status", "row"),
    sa.Index("ix_comments_author_created", "author_id", "created_at"),
)

# A create request's idempotency key, per caller: the same key again returns the same
# result; with a different body it is refused.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("result_id", sa.String(130), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

polls = sa.Table(
    "polls",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # <scene>:<scenario>:<key>
    sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
    sa.Column("scenario_key", sa.String(64), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("body", Json, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# One ballot per voter and poll (the primary key is what refuses a second vote).
ballots = sa.Table(
    "ballots",
    metadata,
    sa.Column("poll_id", sa.String(200), sa.ForeignKey("polls.id"), primary_key=True),
    sa.Column("voter_id", sa.String(64), primary_key=True),
    sa.Column("choices", Json, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

stamp_tours = sa.Table(
    "stamp_tours",
    metadata,
    sa.Column("id", sa.String(130), primary_key=True),
    sa.Column("scene_slug", sa.String(64), sa.ForeignKey("scenes.slug"), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("body", Json, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# A visitor's last accepted position on a stamp tour, and the dwell at the stop there.
stamp_trackers = sa.Table(
    "stamp_trackers",
    metadata,
    sa.Column("visitor_id", sa.String(64), primary_key=True),
    sa.Column("tour_id", sa.String(130), primary_key=True),
    sa.Column("lat_deg", sa.Float, nullable=False),
    sa.Column("lon_deg", sa.Float, nullable=False),
    sa.Column("height_m", sa.Float, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("dwell_stop", sa.Integer),
    sa.Column("dwell_s", sa.Float, nullable=False),
)

stamps = sa.Table(
    "stamps",
    metadata,
    sa.Column("visitor_id", sa.String(64), primary_key=True),
    sa.Column("tour_id", sa.String(130), primary_key=True),
    sa.Column("stop_index", sa.Integer, primary_key=True),
    sa.Column("earned_at", UtcDateTime, nullable=False),
)

badges = sa.Table(
    "badges",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("visitor_id", sa.String(64), nullable=False),
    sa.Column("tour_id", sa.String(130), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("visitor_id", "tour_id", name="uq_badges_visitor_tour"),
)

transfer_codes = sa.Table(
    "transfer_codes",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("visitor_id", sa.String(64), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)

# One reaction of each kind per visitor and comment (the primary key says so).
comment_reactions = sa.Table(
    "comment_reactions",
    metadata,
    sa.Column("comment_id", sa.String(36), primary_key=True),
    sa.Column("visitor_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# Organiser, moderator and admin accounts; the password hash is argon2id's encoded string.
# Bumping session_version ends every session token issued before.
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("session_version", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("disabled_at", UtcDateTime),
)

# Content teams' API keys: only the SHA-256 of the secret is kept (the secret is random,
# 256 bits: a slow hash would add nothing).
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)

# Roles of accounts and API keys, per scene ("" = every scene).
grants = sa.Table(
    "grants",
    metadata,
    sa.Column("principal_id", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(16), primary_key=True),
    sa.Column("scene_slug", sa.String(64), primary_key=True),
)
