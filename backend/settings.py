"""Settings, read once from ``TWINLAND_*`` environment variables into a typed object."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ADMIN_TOKEN = "twinland-dev-admin"


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

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.mode is Mode.PRODUCTION and (
            self.admin_token == DEV_ADMIN_TOKEN or len(self.admin_token) < 24
        ):
            raise ValueError(
                "TWINLAND_ADMIN_TOKEN must be set to a secret of at least 24 characters "
                "in production mode"
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
    def graphiql_enabled(self) -> bool:
        return self.mode is Mode.DEV if self.graphiql is None else self.graphiql
