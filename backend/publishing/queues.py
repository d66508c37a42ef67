"""Job queues: they deliver publish-job ids to workers, nothing more.

``InProcessJobQueue`` (the default) runs jobs on the service's own event loop, their CPU
work in a process pool. ``SaqJobQueue`` puts them on a Redis-backed saq queue, so any
number of ``twinland worker`` processes (and the service itself, unless told otherwise)
share the work. Either way the job's state lives in the database
(backend.publishing.service); a queue that loses an id (Redis restarted without
persistence) costs a delay until ``PublishService.recover`` delivers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.exceptions import RedisError
from saq import Worker
from saq.job import Job
from saq.queue.redis import RedisQueue
from saq.types import PartialTimersDict

from backend.observability import log

RunJob = Callable[[str, Callable[[], Awaitable[None]] | None], Awaitable[object]]
QUEUE_NAME = "twinland-publish"
# saq's own limits on one attempt: long enough for a 5M-triangle model (~2 minutes
# here); its heartbeat lease matches ours, so saq re-delivers what we consider dead.
JOB_TIMEOUT_S = 3600
# How long a worker waits before asking an unreachable Redis for the next job again.
UNREACHABLE_PAUSE_S = 1.0


class JobQueue(Protocol):
    async def enqueue(self, job_id: str) -> None: ...
    async def start(self, run: RunJob) -> None:
        """Start this process's workers (if any), each calling ``run(job_id, beat)``."""
        ...

    async def close(self) -> None: ...


class InProcessJobQueue:
    def __init__(self, workers: int = 1) -> None:
        self._ids: asyncio.Queue[str] = asyncio.Queue()
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    async def enqueue(self, job_id: str) -> None:
        self._ids.put_nowait(job_id)

    async def start(self, run: RunJob) -> None:
        async def work() -> None:
            while True:
                job_id = await self._ids.get()
                try:
                    await run(job_id, None)
                except Exception as error:  # run() records failures; this is a bug
                    log.exception("publish worker error", job=job_id, exc_info=error)

        self._tasks = [asyncio.create_task(work()) for _ in range(self._workers)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _PatientRedisQueue(RedisQueue):
    """saq's Redis queue, pausing while Redis cannot be reached. saq's worker asks for the
    next job again at once when asking failed: while Redis was down (or not yet up), every
    process running a worker, the service included, spun a core on refused connections."""

    async def dequeue(
        self,
        timeout: float = 0.0,  # noqa: ASYNC109 (saq's signature)
        poll_interval: float = 0.0,
    ) -> Job | None:
        try:
            return await super().dequeue(timeout, poll_interval)
        except (RedisError, OSError):
            await asyncio.sleep(UNREACHABLE_PAUSE_S)
            raise


class _OneLineWhileRedisIsDown(logging.Filter):
    """saq logs a traceback for each round of upkeep that cannot reach Redis: several a
    second while it is down. One line each says as much."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, RedisError | OSError):
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


_SAQ_LOG_FILTER = _OneLineWhileRedisIsDown()


class SaqJobQueue:
    """Publish jobs on Redis through saq. ``workers`` > 0 also runs a saq worker here."""

    def __init__(self, redis_url: str, workers: int = 1, lease_s: float = 60.0) -> None:
        logging.getLogger("saq").addFilter(_SAQ_LOG_FILTER)  # once: filters are a set
        self.queue = _PatientRedisQueue.from_url(redis_url, name=QUEUE_NAME)
        self._workers = workers
        self._lease_s = lease_s
        self._worker: Worker[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._runs: set[asyncio.Future[object]] = set()

    async def enqueue(self, job_id: str) -> None:
        # the job id as saq's key: an id already waiting in saq is not queued twice
        await self.queue.enqueue(
            Job(
                "publish",
                kwargs={"job_id": job_id},
                key=job_id,
                timeout=JOB_TIMEOUT_S,
                heartbeat=max(1, round(self._lease_s)),
                retries=1,  # our service retries (it knows which failures may pass)
                ttl=3600,
            )
        )

    async def start(self, run: RunJob) -> None:
        await self._start(run, own_signals=False)

    async def _start(self, run: RunJob, *, own_signals: bool) -> None:
        await self.queue.connect()
        if self._workers <= 0:
            return

        async def publish(ctx: dict[str, Any], *, job_id: str) -> None:
            job: Job = ctx["job"]
            # saq cancels a job it takes for lost, and its sweep races its own dequeue (for
            # an instant a job just taken still reads "queued"): it cancelled live builds,
            # which then waited out a lease to run again. Whether a run is lost is for the
            # database's lease to say (PublishService), so saq cancels only the waiting.
            running = asyncio.ensure_future(run(job_id, job.update))
            self._runs.add(running)
            running.add_done_callback(self._runs.discard)
            await asyncio.shield(running)

        self._worker = Worker(
            self.queue,
            functions=[("publish", publish)],
            concurrency=self._workers,
            # saq's sweep frees the ids of dead workers' jobs (so ours can deliver them
            # again) every half lease rather than every minute
            timers=PartialTimersDict(
                schedule=1, worker_info=10, sweep=max(1, round(self._lease_s / 2)), abort=1
            ),
        )
        if not own_signals:
            # saq's worker takes over SIGINT and SIGTERM to stop itself; inside the service
            # that left uvicorn deaf to them: the service did not shut down until killed
            self._worker.SIGNALS = []
        self._task = asyncio.create_task(self._worker.start())

    async def run_forever(self, run: RunJob) -> None:
        """``twinland worker``: work until cancelled, or until SIGINT/SIGTERM stop saq's
        worker (a job cut short runs again after its lease)."""
        await self._start(run, own_signals=True)
        assert self._task is not None
        await self._task

    async def close(self) -> None:
        if self._worker is not None:
            await self._worker.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for running in list(self._runs):  # shutting down: their jobs are leased, not lost
            running.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        try:
            await self.queue.disconnect()
        except (RedisError, OSError) as error:
            # saq unsubscribes on the way out; raised, it cut the service's shutdown short
            log.warning("publish queue closed without reaching redis", error=str(error))
