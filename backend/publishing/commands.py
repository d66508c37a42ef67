"""``twinland scenes build`` and ``twinland worker``: publishing from the command line."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from backend.asset_store import LocalAssetStore
from backend.domain.publishing import JobStatus, PublishJob
from backend.publishing.queues import SaqJobQueue
from backend.publishing.service import PublishService, build_executor
from backend.publishing.uploads import UploadStore
from backend.settings import Settings
from backend.store.engine import create_engine, migrate
from backend.store.sql_store import SqlStore


@asynccontextmanager
async def publish_service(settings: Settings) -> AsyncIterator[PublishService]:
    engine = create_engine(settings.resolved_database_url)
    executor = build_executor(
        settings.build_processes, settings.build_memory_mb, settings.build_cpu_s
    )
    try:
        await migrate(engine)
        yield PublishService(
            SqlStore(engine),
            LocalAssetStore(settings.asset_dir),
            UploadStore(settings.upload_dir, settings.upload_max_mb * 1024 * 1024),
            executor,
            build_cache=settings.resolved_build_cache_dir,
            executor_reset=lambda: build_executor(
                settings.build_processes, settings.build_memory_mb, settings.build_cpu_s
            ),
            lease=timedelta(seconds=settings.job_lease_s),
        )
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        await engine.dispose()


async def build_scene_folder(settings: Settings, folder: Path, show_progress: bool) -> PublishJob:
    """Build and publish one scene folder here and now, as a recorded publish job."""
    async with publish_service(settings) as service:
        job = await service.request_scene_build(folder)
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            disable=not show_progress,
        )

        async def follow() -> None:
            task = progress.add_task(job.scene_slug, total=1.0)
            async for seen in service.watch(job.id):
                progress.update(
                    task,
                    completed=seen.progress,
                    description=f"{seen.scene_slug}: {seen.step}",
                )

        with progress:
            watcher = asyncio.create_task(follow())
            finished = await service.run(job.id)
            await asyncio.sleep(0)  # let the watcher see the last change
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if finished is None:  # claimed elsewhere meanwhile: report what the row says
            found = await service.store.reads.publish_jobs_by_id([job.id])
            finished = found[job.id]
        return finished


async def run_worker(settings: Settings) -> None:
    """Run publish jobs from the Redis queue until interrupted."""
    assert settings.redis_url, "twinland worker needs TWINLAND_REDIS_URL"
    async with publish_service(settings) as service:
        queue = SaqJobQueue(settings.redis_url, max(1, settings.job_workers), settings.job_lease_s)
        service.deliver_with(queue.enqueue)
        recovery = asyncio.create_task(service.recover_forever())
        try:
            await queue.run_forever(service.run)
        finally:
            recovery.cancel()
            await queue.close()


def describe(job: PublishJob) -> str:
    if job.status is JobStatus.SUCCEEDED and job.unchanged:
        return f"{job.scene_slug} is unchanged at version {job.result_version} (job {job.id})"
    if job.status is JobStatus.SUCCEEDED:
        return f"published {job.scene_slug} version {job.result_version} (job {job.id})"
    failure = job.failure
    reason = f"{failure.code}: {failure.message}" if failure else job.status.value
    return f"{job.scene_slug}: nothing published (job {job.id}) — {reason}"
