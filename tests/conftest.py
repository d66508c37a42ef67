"""Shared fixtures: a store per backend (SQLite file, real PostgreSQL), demo scene paths.

PostgreSQL tests never skip: if the server is down they fail, because the product
depends on it. `.ci/run` starts it when it is down.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from backend.store.engine import create_engine, migrate
from backend.store.sql_store import SqlStore

if TYPE_CHECKING:
    from tests.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[1]
# One cache of finished layer builds for the whole test session, shared by every app,
# loader and server subprocess: each distinct demo layer goes through the pipeline once.
BUILD_CACHE = Path(tempfile.mkdtemp(prefix="twinland-test-build-cache-"))
os.environ.setdefault("TWINLAND_BUILD_CACHE_DIR", str(BUILD_CACHE))
DEMO_SCENES = REPO / "scenes"
POSTGRES_ADMIN_DSN = os.environ.get(
    "TWINLAND_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]
TABLES = (
    "grants, api_keys, accounts, comment_reactions, transfer_codes, badges, stamps, "
    "stamp_trackers, stamp_tours, ballots, polls, idempotency_keys, comments, scenarios, "
    "publish_jobs, scene_versions, "
    "live_moderation, live_sessions, tour_stops, tours, pois, scenes, regions"
)


class PostgresDatabases:
    """Creates throwaway databases on the real server; drops them all at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    async def create(self) -> str:
        name = f"twinland_test_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self.names.append(name)
        base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
        return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"

    async def drop_all(self) -> None:
        admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            for name in self.names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def postgres_databases() -> AsyncIterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    await databases.drop_all()


@pytest.fixture(scope="session")
async def postgres_database(postgres_databases: PostgresDatabases) -> str:
    """A fresh database for the contract tests (emptied before each test)."""
    return await postgres_databases.create()


@pytest.fixture(scope="session")
async def migrated_postgres(postgres_database: str) -> str:
    engine = create_engine(postgres_database)
    await migrate(engine)
    await engine.dispose()
    return postgres_database


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'twinland.db'}"


async def _clean_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_postgres: str
) -> AsyncIterator[str]:
    """An empty, migrated database of each backend in turn. (PostgreSQL is set up for every
    run: an async fixture cannot be requested lazily, and the suite needs it anyway.)"""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        yield url
    else:
        await _clean_postgres(migrated_postgres)
        yield migrated_postgres


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    sql_store = SqlStore(create_engine(database_url))
    yield sql_store
    await sql_store.close()


@pytest.fixture
def demo_scene_paths() -> list[Path]:
    return [DEMO_SCENES]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own (on a free port), for tests that stop and start it."""
    from tests.redis_server import RedisServer  # here: it imports tests.live, which imports this

    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
