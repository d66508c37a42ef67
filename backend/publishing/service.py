"""Publish jobs: create them, run them (build, then switch the version), watch them.

The database row is the job's truth; queues only deliver job ids (backend.publishing.
queues). Delivering one twice is harmless: a worker must *claim* the job (a
compare-and-set on the row) and only one claim succeeds. A job whose worker dies stops
heart-beating and may be claimed again after the lease; its half-built assets are
content-addressed and its version was never switched, so nothing half-published exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from backend.asset_store import LocalAssetStore
from backend.domain import publishing as p
from backend.domain.errors import Conflict, DomainError, IllegalTransition, NotFound
from backend.domain.ids import validate_slug
from backend.domain.publishing import JobFailure, JobKind, JobStatus, PublishJob
from backend.domain.scene import ClientTier, Layer, Scene
from backend.observability import log
from backend.ports import Store
from backend.publishing import work
from backend.publishing.uploads import UploadStore
from backend.publishing.versions import publish_layers
from backend.scenes.loader import StoredContent, store_package
from backend.scenes.parse import ScenePackage, read_scene_folder

Heartbeat = Callable[[], Awaitable[None]]
# How often a watcher re-reads a job it has heard nothing about (another process runs it).
WATCH_POLL_S = 1.0


def build_executor(
    processes: int, memory_mb: int | None = None, cpu_s: int | None = None
) -> Executor:
    """Worker processes for the pipeline's CPU work. Spawned, not forked: a fork of a
    process running an event loop and threads can inherit held locks.

    With limits, each job runs in a fresh process (a process per job: the CPU limit is
    per process) whose address space is capped at ``memory_mb`` (a decompression bomb
    gets MemoryError, the job fails with ``out_of_memory``) and whose CPU time is capped
    at ``cpu_s`` (the job fails with ``timeout``; past a grace period the kernel kills
    the process, and the job fails as ``worker_crashed``). The service never shares a
    process with a build."""
    if memory_mb is None and cpu_s is None:
        return ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn"))
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=get_context("spawn"),
        initializer=limit_build_process,
        initargs=(memory_mb, cpu_s),
        max_tasks_per_child=1,
    )


class BuildTimeout(Exception):
    """The build used up its CPU time (TWINLAND_BUILD_CPU_S)."""


def limit_build_process(memory_mb: int | None, cpu_s: int | None) -> None:
    """Runs first in each build process: its resource limits."""
    import resource
    import signal

    if memory_mb is not None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_s is not None:

        def out_of_time(signum: int, frame: object) -> None:
            # SIGXCPU repeats every second past the soft limit: move it to the hard one, so
            # the failure is reported rather than interrupted
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_s + 10, cpu_s + 10))
            raise BuildTimeout(f"the build used its {cpu_s} s of CPU time")

        signal.signal(signal.SIGXCPU, out_of_time)
        # soft: SIGXCPU, raised as BuildTimeout between bytecodes; hard: the kernel kills
        # a process stuck in native code 10 s later
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 10))


def _now() -> datetime:
    return datetime.now(UTC)


class JobLost(Exception):
    """Another worker claimed the job (this one was presumed dead): stop, write nothing."""


@dataclass
class _Running:
    """The job as this worker last wrote it: the expected value of the next write. The
    lock keeps the heartbeat and the job's own writes from racing each other's CAS."""

    job: PublishJob
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class PublishService:
    def __init__(
        self,
        store: Store,
        assets: LocalAssetStore,
        uploads: UploadStore,
        executor: Executor,
        *,
        build_cache: Path | None = None,
        executor_reset: Callable[[], Executor] | None = None,
        lease: timedelta = p.LEASE,
    ) -> None:
        self.lease = lease
        self.store = store
        self.assets = assets
        self.uploads = uploads
        self.executor = executor
        self.build_cache = build_cache
        self._executor_reset = executor_reset
        self._enqueue: Callable[[str], Awaitable[None]] | None = None
        self._changed: dict[str, asyncio.Event] = {}

    def deliver_with(self, enqueue: Callable[[str], Awaitable[None]]) -> None:
        """The queue that hands job ids to workers (set once the queue exists)."""
        self._enqueue = enqueue

    # -- creating ---------------------------------------------------------------------

    async def request_layer_upload(
        self, scene_slug: str, layer_key: str, upload_sha256: str
    ) -> PublishJob:
        """A job that rebuilds one layer of the scene's current version from an upload."""
        validate_slug("layerKey", layer_key)
        upload = self.uploads.find(upload_sha256)
        if upload is None:
            raise NotFound("upload", upload_sha256)
        scene = (await self.store.reads.scenes_by_slug([scene_slug])).get(scene_slug)
        if scene is None:
            raise NotFound("scene", scene_slug)
        if all(layer.key != layer_key for layer in scene.layers):
            raise NotFound("layer", f"{scene_slug}/{layer_key}")
        return await self._create(
            scene_slug,
            lambda base, now: PublishJob(
                id=str(uuid.uuid4()),
                scene_slug=scene_slug,
                kind=JobKind.LAYER_UPLOAD,
                status=JobStatus.QUEUED,
                created_at=now,
                updated_at=now,
                base_version=base,
                layer_key=layer_key,
                upload_sha256=upload.sha256,
                upload_name=upload.file_name,
            ),
        )

    async def request_scene_build(self, folder: Path) -> PublishJob:
        """A job that builds a scene folder's sources (``twinland scenes build``)."""
        package = await asyncio.to_thread(read_scene_folder, folder)
        slug = package.scene.slug
        return await self._create(
            slug,
            lambda base, now: PublishJob(
                id=str(uuid.uuid4()),
                scene_slug=slug,
                kind=JobKind.SCENE_BUILD,
                status=JobStatus.QUEUED,
                created_at=now,
                updated_at=now,
                base_version=base,
                source_path=str(folder.resolve()),
            ),
        )

    async def _create(
        self, scene_slug: str, make: Callable[[int, datetime], PublishJob]
    ) -> PublishJob:
        async with self.store.transaction() as tx:
            await tx.lock_scene(scene_slug)
            now = _now()
            for other in await tx.publish_jobs_by_scene(scene_slug, limit=20):
                if p.blocks_new_job(other, now, self.lease):
                    raise p.PublishConflict(
                        f"publish job {other.id} is already {other.status.value} for scene "
                        f"{scene_slug!r}; wait for it (publishJob) or retry when it has finished"
                    )
            scene = (await tx.scenes_by_slug([scene_slug])).get(scene_slug)
            job = make(scene.version if scene is not None else 0, now)
            await tx.insert_publish_job(job)
        await self._deliver(job.id)
        return job

    async def retry(self, job_id: str) -> PublishJob:
        """Queue a failed job again, on top of the scene's version as it is now."""
        known = (await self.store.reads.publish_jobs_by_id([job_id])).get(job_id)
        if known is None:
            raise NotFound("publish job", job_id)
        async with self.store.transaction() as tx:
            await tx.lock_scene(known.scene_slug)  # first: what is read below is current
            job = (await tx.publish_jobs_by_id([job_id]))[job_id]
            now = _now()
            for other in await tx.publish_jobs_by_scene(job.scene_slug, limit=20):
                if other.id != job.id and p.blocks_new_job(other, now, self.lease):
                    raise p.PublishConflict(
                        f"publish job {other.id} is {other.status.value} for the same scene"
                    )
            scene = (await tx.scenes_by_slug([job.scene_slug])).get(job.scene_slug)
            queued = p.retry(job, scene.version if scene is not None else 0, now)
            await tx.update_publish_job(queued, job)
        self._notify(job_id)
        await self._deliver(job_id)
        return queued

    async def _deliver(self, job_id: str) -> None:
        if self._enqueue is None:
            return  # run directly by the caller (the CLI)
        try:
            await self._enqueue(job_id)
        except Exception as error:
            # The job is in the database, so it is not lost: recover() delivers it again.
            log.warning("publish job not delivered yet", job=job_id, error=repr(error))

    async def recover(self) -> list[str]:
        """Deliver again what may have been lost with a queue or a worker: queued jobs, and
        running ones whose worker went silent. Returns the job ids delivered."""
        now = _now()
        lost = [
            job.id
            for job in await self.store.reads.unfinished_publish_jobs()
            if job.status is JobStatus.QUEUED or job.abandoned(now, self.lease)
        ]
        for job_id in lost:
            await self._deliver(job_id)
        return lost

    async def recover_forever(self) -> None:
        """``recover()`` every half lease: a job lost with a dead worker runs again within
        about 1.5 leases; one lost with a Redis restart within half a lease."""
        while True:
            try:
                recovered = await self.recover()
                if recovered:
                    log.info("publish jobs delivered again", jobs=recovered)
            except Exception as error:  # the database or Redis is down: next round
                log.warning("publish job recovery failed", error=repr(error))
            await asyncio.sleep(self.lease.total_seconds() / 2)

    # -- running ----------------------------------------------------------------------

    async def run(self, job_id: str, heartbeat: Heartbeat | None = None) -> PublishJob | None:
        """Claim and run one job. None when it is not this worker's to run (finished, or
        running elsewhere). Failures are recorded on the job, never raised."""
        running = await self._claim(job_id)
        if running is None:
            return None
        log.info("publish job started", job=job_id, scene=running.job.scene_slug)
        beat = asyncio.create_task(self._heartbeat(running, heartbeat))
        try:
            finished = await self._build_and_publish(running)
        except JobLost:
            log.warning("publish job taken over by another worker", job=job_id)
            return None
        except Exception as error:  # recorded on the job: a job never takes a worker down
            finished = await self._fail(running, _failure(error))
        finally:
            beat.cancel()
        if finished.status is JobStatus.FAILED and p.should_retry_automatically(finished):
            log.info("publish job retried", job=job_id, attempts=finished.attempts)
            try:
                await self.retry(job_id)
            except DomainError as error:  # e.g. another publish of the scene came first
                log.warning("publish job not retried", job=job_id, error=error.message)
        return finished

    async def _claim(self, job_id: str) -> _Running | None:
        known = (await self.store.reads.publish_jobs_by_id([job_id])).get(job_id)
        if known is None:
            log.warning("publish job delivered but unknown", job=job_id)
            return None
        try:
            async with self.store.transaction() as tx:
                await tx.lock_scene(known.scene_slug)  # first, so the read below is current
                job = (await tx.publish_jobs_by_id([job_id]))[job_id]
                claimed = p.claim(job, _now(), self.lease)
                await tx.update_publish_job(claimed, job)
        except (IllegalTransition, Conflict):
            return None
        self._notify(job_id)
        return _Running(claimed)

    async def _save(self, running: _Running, change: Callable[[PublishJob], PublishJob]) -> None:
        async with running.lock:
            new = change(running.job)
            try:
                async with self.store.transaction() as tx:
                    await tx.update_publish_job(new, running.job)
            except Conflict:
                raise JobLost from None
            running.job = new
        self._notify(new.id)

    async def _heartbeat(self, running: _Running, external: Heartbeat | None) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 6)
            job = running.job
            try:
                await self._save(
                    running, lambda job: p.advance(job, job.step, job.progress, _now())
                )
                if external is not None:
                    await external()
            except JobLost:
                return
            except Exception as error:  # the database or queue blinked: try next beat
                log.warning("publish job heartbeat failed", job=job.id, error=repr(error))

    async def _progress(self, running: _Running, step: str, fraction: float) -> None:
        await self._save(running, lambda job: p.advance(job, step, fraction, _now()))

    async def _fail(self, running: _Running, failure: JobFailure) -> PublishJob:
        log.warning(
            "publish job failed", job=running.job.id, code=failure.code, error=failure.message
        )
        await self._save(running, lambda job: p.fail(job, failure, _now()))
        return running.job

    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, fn, *args)
        except BrokenProcessPool:
            if self._executor_reset is not None:
                self.executor = self._executor_reset()
            raise

    async def _build_and_publish(self, running: _Running) -> PublishJob:
        job = running.job
        if job.kind is JobKind.LAYER_UPLOAD:
            return await self._publish_upload(running)
        return await self._publish_folder(running)

    async def _publish_upload(self, running: _Running) -> PublishJob:
        job = running.job
        assert job.layer_key is not None
        assert job.upload_sha256 is not None
        assert job.upload_name is not None
        scene = (await self.store.reads.scenes_by_slug([job.scene_slug])).get(job.scene_slug)
        if scene is None:
            raise NotFound("scene", job.scene_slug)
        layer = next((layer for layer in scene.layers if layer.key == job.layer_key), None)
        if layer is None:
            raise NotFound("layer", f"{job.scene_slug}/{job.layer_key}")
        path = self.uploads.path_for(job.upload_sha256)
        if path is None:
            raise NotFound("upload", job.upload_sha256)
        digest = work.upload_digest(scene, job.upload_sha256, job.upload_name)
        if layer.source_digest == digest:
            return await self._publish(running, scene, scene.layers, None)
        assets = []
        tiers = list(ClientTier)
        for i, tier in enumerate(tiers):
            await self._progress(running, f"building {tier.value}", i / (len(tiers) + 1))
            assets.append(
                await self._in_worker(
                    work.build_upload_tier,
                    str(path),
                    job.upload_name,
                    scene,
                    job.layer_key,
                    tier,
                    str(self.assets.root),
                    str(self.build_cache) if self.build_cache else None,
                )
            )
        new_layer = replace(layer, assets=tuple(assets), source_digest=digest)
        layers = tuple(new_layer if lay.key == layer.key else lay for lay in scene.layers)
        return await self._publish(running, scene, layers, None)

    async def _publish_folder(self, running: _Running) -> PublishJob:
        job = running.job
        assert job.source_path is not None
        package = await asyncio.to_thread(read_scene_folder, Path(job.source_path))
        published = (await self.store.reads.scenes_by_slug([job.scene_slug])).get(job.scene_slug)
        layers: list[Layer] = []
        keys = [layer.key for layer in package.scene.layers]
        for i, key in enumerate(keys):
            await self._progress(running, f"building layer {key}", i / (len(keys) + 1))
            layers.append(
                await self._in_worker(
                    work.build_folder_layer,
                    job.source_path,
                    key,
                    published,
                    str(self.assets.root),
                    str(self.build_cache) if self.build_cache else None,
                )
            )
        scene = replace(package.scene, layers=tuple(layers))
        return await self._publish(running, scene, scene.layers, package)

    async def _publish(
        self,
        running: _Running,
        scene: Scene,
        layers: tuple[Layer, ...],
        package: ScenePackage | None,
    ) -> PublishJob:
        """The switch: version and job outcome in one transaction, after the base check."""
        await self._progress(running, "publishing", 0.99)
        async with running.lock, self.store.transaction() as tx:
            job = running.job
            await tx.lock_scene(job.scene_slug)
            current = (await tx.scenes_by_slug([job.scene_slug])).get(job.scene_slug)
            p.check_base(job, current.version if current is not None else 0)
            if package is not None:
                outcome = await store_package(
                    tx, package, replace(scene, layers=layers), job.id, StoredContent()
                )
            else:
                outcome = await publish_layers(tx, scene, layers, job.id, _now())
            done = p.succeed(job, outcome.version, unchanged=outcome.unchanged, now=_now())
            try:
                await tx.update_publish_job(done, job)
            except Conflict:
                raise JobLost from None  # rolls the version back with it
            running.job = done
        self._notify(done.id)
        log.info(
            "publish job finished",
            job=done.id,
            scene=done.scene_slug,
            version=done.result_version,
            unchanged=done.unchanged,
        )
        return done

    # -- watching ---------------------------------------------------------------------

    def _notify(self, job_id: str) -> None:
        event = self._changed.get(job_id)
        if event is not None:
            event.set()

    async def watch(self, job_id: str) -> AsyncIterator[PublishJob]:
        """The job now, then each change until it has finished. Changes made in this
        process arrive at once; those of workers elsewhere within WATCH_POLL_S."""
        event = self._changed.setdefault(job_id, asyncio.Event())
        last: tuple[Any, ...] | None = None
        try:
            while True:
                event.clear()
                job = (await self.store.reads.publish_jobs_by_id([job_id])).get(job_id)
                if job is None:
                    raise NotFound("publish job", job_id)
                seen = (job.status, job.step, job.progress, job.attempts, job.updated_at)
                if seen != last:
                    last = seen
                    yield job
                if not job.active:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), WATCH_POLL_S)
        finally:
            if self._changed.get(job_id) is event:
                del self._changed[job_id]


def _beat(job: PublishJob) -> PublishJob:
    return p.advance(job, job.step, job.progress, _now())


def _failure(error: Exception) -> JobFailure:
    """What a person can act on, and whether running again could help."""
    if isinstance(error, p.PublishConflict):
        return JobFailure("scene_changed", error.message, retryable=False)
    if isinstance(error, work.BuildRefused):
        return error.failure
    expected = work.refusal(error)
    if expected is not None:
        return expected
    if isinstance(error, BrokenProcessPool):
        return JobFailure(
            "worker_crashed", "the build process died (crash or out of memory)", retryable=True
        )
    if isinstance(error, MemoryError):
        return JobFailure("out_of_memory", "the build ran out of memory", retryable=False)
    if isinstance(error, BuildTimeout):
        return JobFailure("timeout", str(error), retryable=False)
    log.exception("publish job error", exc_info=error)
    return JobFailure("internal", f"{type(error).__name__}: {error}", retryable=True)
