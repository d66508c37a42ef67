"""Publish jobs on SQLite and PostgreSQL: versions switch atomically, unchanged sources
are not rebuilt, one publish per scene at a time, failures publish nothing, dead workers'
jobs are taken over, and a killed build process is retried."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.asset_store import LocalAssetStore
from backend.domain.errors import NotFound
from backend.domain.publishing import JobStatus, PublishConflict
from backend.publishing.service import JobLost, PublishService, build_executor
from backend.publishing.uploads import Upload, UploadStore
from backend.scenes.loader import load_scenes
from backend.store.sql_store import SqlStore
from backend.store.tables import publish_jobs
from tests.conftest import BUILD_CACHE
from tests.publishing.models import box_glb
from tests.scenes.sample import write_scene

SLUG = "test-scene"


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_scene(tmp_path / "scenes")


@pytest.fixture
async def service(store: SqlStore, tmp_path: Path) -> AsyncIterator[PublishService]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield PublishService(
            store,
            LocalAssetStore(tmp_path / "assets"),
            UploadStore(tmp_path / "uploads"),
            executor,
            build_cache=BUILD_CACHE,
        )


async def upload(service: PublishService, data: bytes | None = None) -> Upload:
    data = data if data is not None else box_glb()
    return await service.uploads.receive("pier.glb", chunks(data), len(data))


async def current(store: SqlStore):  # type: ignore[no-untyped-def]
    return (await store.reads.scenes_by_slug([SLUG]))[SLUG]


async def test_a_scene_build_publishes_version_1_and_an_unchanged_rebuild_publishes_nothing(
    service: PublishService, store: SqlStore, folder: Path
):
    job = await service.request_scene_build(folder)
    first = await service.run(job.id)
    assert first is not None
    assert (first.status, first.result_version, first.unchanged) == (
        JobStatus.SUCCEEDED,
        1,
        False,
    )
    scene = await current(store)
    assert scene.version == 1
    assert all(layer.source_digest for layer in scene.layers)

    again = await service.run((await service.request_scene_build(folder)).id)
    assert again is not None
    assert (again.status, again.result_version, again.unchanged) == (JobStatus.SUCCEEDED, 1, True)
    assert [v.version for v in await store.reads.scene_versions(SLUG)] == [1]


async def test_an_unchanged_layer_is_reused_without_building(
    service: PublishService, store: SqlStore, folder: Path, monkeypatch: pytest.MonkeyPatch
):
    await service.run((await service.request_scene_build(folder)).id)
    before = await current(store)

    def no_build(*args: object) -> None:
        raise AssertionError("an unchanged layer was rebuilt")

    monkeypatch.setattr("backend.scenes.layer_build.LayerBuilder.build", no_build)
    job = await service.run((await service.request_scene_build(folder)).id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED, job.failure
    assert (await current(store)).layers == before.layers


async def test_an_uploaded_model_replaces_one_layer_in_a_new_version(
    service: PublishService, store: SqlStore, folder: Path
):
    await load_scenes(store, service.assets, [folder], BUILD_CACHE)
    before = await current(store)
    uploaded = await upload(service)

    job = await service.request_layer_upload(SLUG, "buildings", uploaded.sha256)
    assert (job.status, job.base_version) == (JobStatus.QUEUED, 1)
    done = await service.run(job.id)

    assert done is not None
    assert (done.status, done.result_version) == (JobStatus.SUCCEEDED, 2), done.failure
    after = await current(store)
    terrain, buildings = after.layers
    assert terrain == before.layers[0]
    assert {a.tier.value for a in buildings.assets} == {"desktop", "mobile", "vr"}
    for asset in buildings.assets:
        assert service.assets.path_for(f"{asset.sha256}.glb") is not None
        assert asset.tileset_sha256 is not None
        assert service.assets.path_for(f"{asset.tileset_sha256}.json") is not None
    versions = await store.reads.scene_versions(SLUG)
    assert [(v.version, v.job_id) for v in versions] == [(2, job.id), (1, None)]
    assert versions[1].layers == before.layers  # the old version stays as it was

    same = await service.run(
        (await service.request_layer_upload(SLUG, "buildings", uploaded.sha256)).id
    )
    assert same is not None
    assert (same.result_version, same.unchanged) == (2, True)


async def test_two_concurrent_publishes_of_one_scene_one_wins_the_other_is_refused(
    service: PublishService, store: SqlStore, folder: Path
):
    await load_scenes(store, service.assets, [folder], BUILD_CACHE)
    uploaded = await upload(service)
    results = await asyncio.gather(
        *(
            service.request_layer_upload(SLUG, layer, uploaded.sha256)
            for layer in ["buildings", "terrain"] * 4
        ),
        return_exceptions=True,
    )
    jobs = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(jobs) == 1
    assert len(refused) == 7
    assert all(isinstance(error, PublishConflict) for error in refused), refused
    assert all("already queued" in error.message for error in refused)  # type: ignore[attr-defined]
    assert len(await store.reads.publish_jobs_by_scene(SLUG, 10)) == 1


async def test_a_model_the_pipeline_refuses_fails_the_job_and_publishes_nothing(
    service: PublishService, store: SqlStore, folder: Path
):
    await load_scenes(store, service.assets, [folder], BUILD_CACHE)
    before = await current(store)
    broken = b"glTF" + (2).to_bytes(4, "little") + (64).to_bytes(4, "little") + b"\x00" * 52
    uploaded = await upload(service, broken)

    done = await service.run(
        (await service.request_layer_upload(SLUG, "buildings", uploaded.sha256)).id
    )

    assert done is not None
    assert done.status is JobStatus.FAILED
    assert done.failure is not None
    assert done.failure.code.startswith("invalid_model:")
    assert not done.failure.retryable
    assert done.attempts == 1  # bad input is not retried automatically
    assert await current(store) == before
    assert [v.version for v in await store.reads.scene_versions(SLUG)] == [1]


async def test_a_job_whose_scene_moved_fails_clearly_and_a_retry_rebuilds_on_top(
    service: PublishService, store: SqlStore, folder: Path
):
    await load_scenes(store, service.assets, [folder], BUILD_CACHE)
    uploaded = await upload(service)
    job = await service.request_layer_upload(SLUG, "buildings", uploaded.sha256)
    # meanwhile the content team reloads the scene with a changed footprint file
    geojson = folder / "sources" / "buildings.geojson"
    geojson.write_text(geojson.read_text().replace("12.0", "14.0"))
    await load_scenes(store, service.assets, [folder], BUILD_CACHE)
    assert (await current(store)).version == 2

    failed = await service.run(job.id)
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert failed.failure is not None
    assert failed.failure.code == "scene_changed"
    assert (await current(store)).version == 2

    retried = await service.retry(job.id)
    assert (retried.status, retried.base_version) == (JobStatus.QUEUED, 2)
    done = await service.run(job.id)
    assert done is not None
    assert (done.status, done.result_version) == (JobStatus.SUCCEEDED, 3)


async def test_a_dead_workers_job_is_taken_over_after_the_lease_and_the_dead_one_writes_nothing(
    store: SqlStore, tmp_path: Path, folder: Path
):
    lease = timedelta(seconds=1)
    with ThreadPoolExecutor(max_workers=1) as executor:
        service = PublishService(
            store,
            LocalAssetStore(tmp_path / "assets"),
            UploadStore(tmp_path / "uploads"),
            executor,
            build_cache=BUILD_CACHE,
            lease=lease,
        )
        await load_scenes(store, service.assets, [folder], BUILD_CACHE)
        job = await service.request_layer_upload(SLUG, "buildings", (await upload(service)).sha256)
        # a worker claims the job and dies without a word: its row says running
        dead = await service._claim(job.id)
        assert dead is not None
        assert await service.recover() == []  # alive as far as anyone knows
        await asyncio.sleep(lease.total_seconds() * 1.5)
        assert await service.recover() == [job.id]

        done = await service.run(job.id)
        assert done is not None
        assert (done.status, done.attempts, done.result_version) == (JobStatus.SUCCEEDED, 2, 2)
        # the presumed-dead worker wakes up: whatever it writes is refused
        with pytest.raises(JobLost):
            await service._progress(dead, "building desktop", 0.5)
    assert [v.version for v in await store.reads.scene_versions(SLUG)] == [2, 1]


async def test_unknown_scene_layer_or_upload_is_not_found(
    service: PublishService, store: SqlStore, folder: Path
):
    await load_scenes(store, service.assets, [folder], BUILD_CACHE)
    uploaded = await upload(service)
    with pytest.raises(NotFound, match="scene"):
        await service.request_layer_upload("no-such-scene", "buildings", uploaded.sha256)
    with pytest.raises(NotFound, match="layer"):
        await service.request_layer_upload(SLUG, "harbour", uploaded.sha256)
    with pytest.raises(NotFound, match="upload"):
        await service.request_layer_upload(SLUG, "buildings", "0" * 64)
    assert await store.reads.publish_jobs_by_scene(SLUG, 10) == []


async def test_a_killed_build_process_fails_the_attempt_and_the_job_is_retried(
    store: SqlStore, tmp_path: Path, folder: Path
):
    """A real process pool; its build process is SIGKILLed mid-job (as the OOM killer
    would): the attempt fails as worker_crashed, the job runs again in a new pool and
    publishes exactly one version."""
    executor = build_executor(1)
    service = PublishService(
        store,
        LocalAssetStore(tmp_path / "assets"),
        UploadStore(tmp_path / "uploads"),
        executor,
        build_cache=None,  # a real build, long enough to be killed in
        executor_reset=lambda: build_executor(1),
    )
    try:
        await load_scenes(store, service.assets, [folder], BUILD_CACHE)
        job = await service.request_layer_upload(
            SLUG, "buildings", (await upload(service, box_glb(25.0))).sha256
        )
        runner = asyncio.create_task(service.run(job.id))
        async with asyncio.timeout(60):
            while not executor._processes:  # type: ignore[attr-defined]  # noqa: ASYNC110 (nothing to await: a pool's private state)
                await asyncio.sleep(0.05)
        for pid in list(executor._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        first = await asyncio.wait_for(runner, 120)
        assert first is not None
        assert first.status is JobStatus.FAILED
        assert first.failure is not None
        assert first.failure.code == "worker_crashed"
        # run() queued it again (no queue here: run it as the queue would)
        requeued = (await store.reads.publish_jobs_by_id([job.id]))[job.id]
        assert requeued.status is JobStatus.QUEUED
        done = await asyncio.wait_for(service.run(job.id), 300)
        assert done is not None
        assert (done.status, done.attempts, done.result_version) == (JobStatus.SUCCEEDED, 2, 2)
        assert [v.version for v in await store.reads.scene_versions(SLUG)] == [2, 1]
    finally:
        service.executor.shutdown(wait=False, cancel_futures=True)


async def test_watching_a_job_sees_its_steps_until_it_finishes(
    service: PublishService, store: SqlStore, folder: Path
):
    await load_scenes(store, service.assets, [folder], BUILD_CACHE)
    job = await service.request_layer_upload(SLUG, "buildings", (await upload(service)).sha256)
    seen = []

    async def follow() -> None:
        async for state in service.watch(job.id):
            seen.append((state.status, state.step, state.progress))

    watcher = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    await service.run(job.id)
    await asyncio.wait_for(watcher, 10)
    assert seen[0][0] is JobStatus.QUEUED
    assert seen[-1] == (JobStatus.SUCCEEDED, "published", 1.0)
    steps = [step for _, step, _ in seen]
    assert "building desktop" in steps
    progress = [value for _, _, value in seen]
    assert progress == sorted(progress)


async def test_job_rows_keep_their_outcome(service: PublishService, store: SqlStore, folder: Path):
    job = await service.run((await service.request_scene_build(folder)).id)
    assert job is not None
    async with store.engine.connect() as connection:
        row = (
            (await connection.execute(sa.select(publish_jobs).where(publish_jobs.c.id == job.id)))
            .mappings()
            .one()
        )
    assert (row["status"], row["result_version"], row["attempts"]) == ("succeeded", 1, 1)
    assert replace(job) == (await store.reads.publish_jobs_by_id([job.id]))[job.id]
