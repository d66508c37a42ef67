"""Publish jobs on the Redis queue (saq), with real ``twinland worker`` processes,
PostgreSQL and Redis: a worker killed mid-job loses nothing — another worker takes the
job over after the lease and exactly one new version is published."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trimesh

from backend.asset_store import LocalAssetStore
from backend.domain.publishing import JobStatus, PublishJob
from backend.publishing.queues import SaqJobQueue
from backend.publishing.service import PublishService
from backend.publishing.uploads import UploadStore
from backend.scenes.loader import load_scenes
from backend.store.engine import create_engine, migrate
from backend.store.sql_store import SqlStore
from tests.conftest import BUILD_CACHE, PostgresDatabases
from tests.redis_server import RedisServer
from tests.scenes.sample import write_scene
from tests.worker_process import Worker

SLUG = "test-scene"
LEASE_S = 3.0


async def wait_for(store: SqlStore, job_id: str, ok, timeout_s: float) -> PublishJob:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while True:
            job = (await store.reads.publish_jobs_by_id([job_id]))[job_id]
            if ok(job):
                return job
            await asyncio.sleep(0.1)


@pytest.fixture
async def setting(
    tmp_path: Path, own_redis: RedisServer, postgres_databases: PostgresDatabases
) -> AsyncIterator[tuple[SqlStore, PublishService, dict[str, str]]]:
    database = await postgres_databases.create()
    engine = create_engine(database)
    await migrate(engine)
    store = SqlStore(engine)
    data = tmp_path / "data"
    with ThreadPoolExecutor(max_workers=1) as executor:
        service = PublishService(
            store,
            LocalAssetStore(data / "assets"),
            UploadStore(data / "uploads"),
            executor,
        )
        await load_scenes(store, service.assets, [write_scene(tmp_path / "scenes")], BUILD_CACHE)
        env = {
            "TWINLAND_DATA_DIR": str(data),
            "TWINLAND_DATABASE_URL": database,
            "TWINLAND_REDIS_URL": own_redis.url,
            "TWINLAND_JOB_LEASE_S": str(LEASE_S),
            # no shared build cache: the worker really builds, long enough to be killed
            "TWINLAND_BUILD_CACHE_DIR": str(tmp_path / "worker-cache"),
            "TWINLAND_LOG_LEVEL": "info",
        }
        yield store, service, env
    await store.close()


async def test_a_worker_killed_mid_job_is_replaced_and_the_job_publishes_once(
    setting: tuple[SqlStore, PublishService, dict[str, str]], tmp_path: Path
):
    store, service, env = setting
    queue = SaqJobQueue(env["TWINLAND_REDIS_URL"], workers=0, lease_s=LEASE_S)
    await queue.start(service.run)  # this process only delivers
    service.deliver_with(queue.enqueue)
    model = trimesh.creation.icosphere(subdivisions=6, radius=30.0).export(file_type="glb")

    async def body() -> AsyncIterator[bytes]:
        yield model

    upload = await service.uploads.receive("dome.glb", body(), len(model))
    first = Worker(env, tmp_path / "worker-1.log")
    second: Worker | None = None
    try:
        job = await service.request_layer_upload(SLUG, "buildings", upload.sha256)
        running = await wait_for(
            store, job.id, lambda j: j.step.startswith("building"), timeout_s=120
        )
        assert running.attempts == 1
        first.kill()  # mid-build: SIGKILL to the worker and its build process

        second = Worker(env, tmp_path / "worker-2.log")
        done = await wait_for(store, job.id, lambda j: not j.active, timeout_s=240)
    finally:
        first.kill()
        if second is not None:
            second.kill()
        await queue.close()
    logs = await asyncio.to_thread(
        lambda: "".join(p.read_text() for p in tmp_path.glob("worker-*.log"))
    )
    assert done.status is JobStatus.SUCCEEDED, (done.failure, logs)
    assert (done.attempts, done.result_version) == (2, 2)
    assert [v.version for v in await store.reads.scene_versions(SLUG)] == [2, 1]
    scene = (await store.reads.scenes_by_slug([SLUG]))[SLUG]
    assert scene.version == 2
    buildings = scene.layers[1]
    assert len(buildings.assets) == 3
    assert all(service.assets.path_for(f"{a.sha256}.glb") for a in buildings.assets)
