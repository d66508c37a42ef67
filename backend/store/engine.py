"""Engines for the two supported databases, and schema migration on start."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every instance of the service.
_MIGRATION_LOCK_ID = 7_346_920_117
# A PostgreSQL server that stops answering without closing its sockets (stalled, or a
# partition that drops packets) must not hold requests forever: connecting gives up after
# CONNECT_TIMEOUT_S and a statement after COMMAND_TIMEOUT_S, failing the request (masked,
# with its request id). Nothing the service runs comes near; migrations have no statement
# timeout, since building an index on a large table may take longer.
CONNECT_TIMEOUT_S = 10
COMMAND_TIMEOUT_S = 60


class UnsupportedDatabase(ValueError):
    pass


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URLs."""
    parsed = sa.make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    if parsed.drivername == "postgresql+asyncpg":
        return create_async_engine(
            url,
            echo=echo,
            pool_size=10,
            max_overflow=10,
            pool_pre_ping=True,  # a restarted server costs one failed ping, not a failed request
            pool_recycle=1800,
            connect_args={"timeout": CONNECT_TIMEOUT_S, "command_timeout": COMMAND_TIMEOUT_S},
        )
    raise UnsupportedDatabase(
        f"unsupported database URL scheme {parsed.drivername!r}; "
        "use sqlite+aiosqlite:///path/to.db or postgresql+asyncpg://host/db"
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA foreign_keys = ON",
        "PRAGMA journal_mode = WAL",  # readers never block the writer
        "PRAGMA synchronous = NORMAL",  # durable at checkpoints; safe with WAL
        "PRAGMA busy_timeout = 30000",
        "PRAGMA cache_size = -65536",  # 64 MiB: the R*Tree and FTS pages stay hot
    ):
        cursor.execute(pragma)
    cursor.close()
    _ensure_math_functions(dbapi_connection)


def _ensure_math_functions(dbapi_connection: Any) -> None:
    """Haversine needs sin/cos/asin/sqrt/radians; older SQLite builds lack them."""
    try:
        dbapi_connection.execute("SELECT asin(sin(radians(1.0)))").fetchone()
        return
    except sqlite3.OperationalError:
        pass
    raw = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    raw = getattr(raw, "_conn", raw)  # aiosqlite wraps the sqlite3 connection
    for name, fn in (
        ("sin", math.sin),
        ("cos", math.cos),
        ("asin", math.asin),
        ("sqrt", math.sqrt),
        ("radians", math.radians),
    ):
        raw.create_function(name, 1, fn, deterministic=True)


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: sa.Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several instances may start at once; one migrates, the others wait and find head.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    command.upgrade(_alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent; safe to run on every start)."""
    if engine.dialect.name != "postgresql":
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
        return
    # one connection of its own, without the serving engine's statement timeout
    migrator = create_async_engine(
        engine.url, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT_S}
    )
    try:
        async with migrator.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await migrator.dispose()


def _is_at_head(connection: sa.Connection) -> bool:
    script = ScriptDirectory.from_config(_alembic_config(connection))
    current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(script.get_heads())


async def schema_is_current(connection: AsyncConnection) -> bool:
    return await connection.run_sync(_is_at_head)
