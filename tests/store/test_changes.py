"""Table change tracking (backend.store.changes) on SQLite and the real PostgreSQL: what a
read depended on, and which commits make that stale."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import sqlalchemy as sa

from backend.store.changes import (
    EVERY_TABLE,
    READ_TRACKER,
    ReadTracker,
    TableVersions,
    track_changes,
)
from backend.store.sql_store import SqlStore
from tests import factories as f


async def tracked_store(store: SqlStore) -> TableVersions:
    versions = TableVersions()
    track_changes(store.engine, versions)
    async with store.transaction() as tx:
        await tx.upsert_region(f.region())
        await tx.upsert_scene(f.scene())
    return versions


async def read_tracked(store: SqlStore, read: Awaitable[Any]) -> ReadTracker:
    tracker = ReadTracker()
    token = READ_TRACKER.set(tracker)
    try:
        await read
    finally:
        READ_TRACKER.reset(token)
    return tracker


async def test_a_read_records_the_tables_it_read(store: SqlStore):
    versions = await tracked_store(store)
    tracker = await read_tracked(store, store.reads.scenes_by_slug(["osiria"]))
    assert tracker.refused is None
    assert set(tracker.dependencies) == {EVERY_TABLE, "scenes"}
    assert versions.current(tracker.dependencies.items())


async def test_a_committed_write_retires_what_read_its_table_and_nothing_else(store: SqlStore):
    versions = await tracked_store(store)
    scenes = await read_tracked(store, store.reads.scenes_by_slug(["osiria"]))
    regions = await read_tracked(store, store.reads.regions_by_slug(["gijang"]))
    async with store.transaction() as tx:
        await tx.upsert_scene(f.scene(name=f.text(en="Osiria, renamed")))
    assert not versions.current(scenes.dependencies.items())
    assert versions.current(regions.dependencies.items())


async def test_a_read_during_an_uncommitted_write_is_stale_once_it_commits(store: SqlStore):
    versions = await tracked_store(store)
    async with store.transaction() as tx:
        await tx.upsert_scene(f.scene(name=f.text(en="Osiria, renamed")))
        # another request reads now: it sees the old row (the write is not committed)
        during = await asyncio.create_task(
            read_tracked(store, store.reads.scenes_by_slug(["osiria"]))
        )
    assert not versions.current(during.dependencies.items())


async def test_a_rolled_back_write_changes_nothing(store: SqlStore):
    versions = await tracked_store(store)
    scenes = await read_tracked(store, store.reads.scenes_by_slug(["osiria"]))
    try:
        async with store.transaction() as tx:
            await tx.upsert_scene(f.scene(name=f.text(en="never")))
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert versions.current(scenes.dependencies.items())


async def test_the_scene_lock_changes_nothing(store: SqlStore):
    versions = await tracked_store(store)
    scenes = await read_tracked(store, store.reads.scenes_by_slug(["osiria"]))
    async with store.transaction() as tx:
        await tx.lock_scene("osiria")
    assert versions.current(scenes.dependencies.items())


async def test_sql_the_tracker_cannot_see_into_makes_the_read_unsure(store: SqlStore):
    await tracked_store(store)

    async def textual() -> None:
        async with store.engine.connect() as connection:
            await connection.execute(sa.text("SELECT slug FROM scenes"))

    tracker = await read_tracked(store, textual())
    assert tracker.refused == "SQL that is not a SELECT construct"


async def test_a_textual_write_retires_everything(store: SqlStore):
    versions = await tracked_store(store)
    regions = await read_tracked(store, store.reads.regions_by_slug(["gijang"]))
    async with store.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE scenes SET slug = slug"))
    assert not versions.current(regions.dependencies.items())
