"""Settings, read once from ``TWINLAND_*`` environment variables into a typed object."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ADMIN_TOKEN = "twinland-dev-admin"
DEV_LIVE_SECRET = "twinland-dev-live-secret-not-for-production"
DEV_VISITOR_SECRET = "twinland-dev-visitor-secret-not-for-production"
DEV_AUTH_SECRET = "twinland-dev-auth-secret-not-for-production"


class Mode(str, Enum):
    DEV = "dev"
    PRODUCTION = "production"


class LogFormat(str, Enum):
    CONSOLE = "console"
    JSON = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWINLAND_", extra="ignore")

    mode: Mode = Mode.DEV
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="Defaults to SQLite at <data_dir>/twinland.db"
    )
    admin_token: str = DEV_ADMIN_TOKEN
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    log_format: LogFormat = LogFormat.CONSOLE
    cors_origins: list[str] = Field(default_factory=list)
    public_base_url: str | None = Field(
        default=None, description="Absolute base for asset URLs; relative URLs when unset"
    )
    graphiql: bool | None = Field(default=None, description="Defaults to on in dev mode only")
    web_dir: Path = Field(
        default=Path(__file__).resolve().parents[1] / "web",
        description="The reference web viewer served at / (web/ of the checkout)",
    )
    build_cache_dir: Path | None = Field(
        default=None,
        description="Finished layer builds, reusable across restarts and data dirs; "
        "defaults to <data_dir>/build-cache",
    )
    asset_cache_mb: int = Field(
        default=256, ge=0, description="Memory for asset files served from RAM (immutable)"
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for live sessions across instances; in-process hub when unset",
    )
    upload_max_mb: int = Field(
        default=256, ge=1, le=4096, description="Largest model accepted by POST /uploads"
    )
    graphql_allow_list: list[Path] = Field(
        default_factory=list,
        description="Folders of .graphql files (a JSON list): when set, only those documents "
        'are run (persisted-query allow list), e.g. ["graphql/operations", "web/operations"]',
    )
    quota_scale: float = Field(
        default=1.0,
        gt=0,
        description="Multiplies the per-person quotas (comments, votes, visitor tokens, live "
        "joins, uploads); raise it where many people share one address",
    )
    graphql_max_cost: int = Field(
        default=5_000,
        ge=1,
        description="Most an operation may cost (docs/hardening.md); dearer ones are refused",
    )
    graphql_cost_burst: int = Field(
        default=10_000, ge=1, description="Cost points a client may spend at once"
    )
    graphql_cost_per_s: float = Field(
        default=1_000.0, gt=0, description="Cost points a client's budget refills per second"
    )
    graphql_cache_max_age_s: float = Field(
        default=10.0,
        ge=0,
        description="Public GraphQL answers are reused until a table they read changes, and "
        "at most this long (bounds staleness from other instances' writes); 0 turns the "
        "response cache off",
    )
    graphql_cache_mb: int = Field(
        default=64, ge=1, description="Memory for the GraphQL response cache's answers"
    )
    job_workers: int = Field(
        default=1,
        ge=0,
        le=32,
        description="Publish jobs this process runs at once; 0: none (with Redis, leave them "
        "to `twinland worker` processes)",
    )
    job_lease_s: float = Field(
        default=60.0,
        ge=1.0,
        le=3600.0,
        description="A running publish job silent this long is presumed dead and run again",
    )
    build_memory_mb: int | None = Field(
        default=6144,
        ge=256,
        description="Address space of each build process (a bomb fails its job with "
        "out_of_memory); unset: no limit",
    )
    build_cpu_s: int | None = Field(
        default=1800, ge=1, description="CPU seconds a publish build may use (then: timeout)"
    )
    build_processes: int = Field(
        default=1, ge=1, le=32, description="Worker processes for the asset pipeline's CPU work"
    )
    live_secret: str = Field(
        default=DEV_LIVE_SECRET, description="Signs live-session join tokens (HS256)"
    )
    visitor_secret: str = Field(
        default=DEV_VISITOR_SECRET, description="Signs anonymous visitor tokens (HS256)"
    )
    auth_secret: str = Field(
        default=DEV_AUTH_SECRET, description="Signs account session tokens (HS256)"
    )
    auth_previous_secret: str | None = Field(
        default=None,
        description="The secret before a rotation: its session tokens still verify until they "
        "expire",
    )
    session_ttl_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    oidc_issuer: str | None = Field(
        default=None, description="Also accept tokens of this OpenID Connect issuer (its `iss`)"
    )
    oidc_audience: str | None = Field(default=None, description="The `aud` those tokens carry")
    oidc_jwks_url: str | None = Field(default=None, description="The issuer's JWKS URL")
    oidc_jwks_file: Path | None = Field(
        default=None, description="Or its JWKS as a file (air-gapped deployments, tests)"
    )
    oidc_roles_claim: str = Field(
        default="twinland_roles",
        description='The claim listing grants, e.g. ["organiser:gokseong", "moderator:jeju"]',
    )
    visitor_token_ttl_days: int = Field(default=30, ge=1, le=365)
    live_token_ttl_minutes: int = Field(default=240, ge=1, le=24 * 60)
    live_tick_hz: float = Field(default=10.0, ge=1.0, le=60.0)
    live_overflow_capacity: int = Field(
        default=10_000, ge=0, description="Spectators admitted beyond a session's avatar capacity"
    )
    live_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser Origins allowed on /live; empty: the service's own and cors_origins",
    )

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.mode is Mode.PRODUCTION and (
            self.admin_token == DEV_ADMIN_TOKEN or len(self.admin_token) < 24
        ):
            raise ValueError(
                "TWINLAND_ADMIN_TOKEN must be set to a secret of at least 24 characters "
                "in production mode"
            )
        if self.mode is Mode.PRODUCTION and (
            self.live_secret == DEV_LIVE_SECRET or len(self.live_secret) < 32
        ):
            raise ValueError(
                "TWINLAND_LIVE_SECRET must be set to a secret of at least 32 characters "
                "in production mode"
            )
        if self.mode is Mode.PRODUCTION and (
            self.visitor_secret == DEV_VISITOR_SECRET or len(self.visitor_secret) < 32
        ):
            raise ValueError(
                "TWINLAND_VISITOR_SECRET must be set to a secret of at least 32 characters "
                "in production mode"
            )
        if self.mode is Mode.PRODUCTION and (
            self.auth_secret == DEV_AUTH_SECRET or len(self.auth_secret) < 32
        ):
            raise ValueError(
                "TWINLAND_AUTH_SECRET must be set to a secret of at least 32 characters "
                "in production mode"
            )
        if self.oidc_issuer and not (
            self.oidc_audience and (self.oidc_jwks_url or self.oidc_jwks_file)
        ):
            raise ValueError(
                "TWINLAND_OIDC_ISSUER needs TWINLAND_OIDC_AUDIENCE and one of "
                "TWINLAND_OIDC_JWKS_URL or TWINLAND_OIDC_JWKS_FILE"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'twinland.db').resolve()}"

    @property
    def asset_dir(self) -> Path:
        return self.data_dir / "assets"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def resolved_build_cache_dir(self) -> Path:
        return self.build_cache_dir or self.data_dir / "build-cache"

    @property
    def graphiql_enabled(self) -> bool:
        return self.mode is Mode.DEV if self.graphiql is None else self.graphiql
