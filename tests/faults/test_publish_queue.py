"""The Redis publish queue (saq) under faults, without a server around it: Redis not there,
and saq taking a live job for lost. ``twinland worker`` processes killed mid-job are in
tests/publishing/test_worker_queue.py and test_two_instances.py here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from saq.job import Status

from backend.publishing.queues import UNREACHABLE_PAUSE_S, SaqJobQueue
from tests.faults.harness import until
from tests.live.server import free_port
from tests.redis_server import RedisServer

NOWHERE = "redis://127.0.0.1:{port}/0"


async def nothing(job_id: str, beat: Callable[[], Awaitable[None]] | None) -> None:
    pass


async def test_a_worker_pauses_between_attempts_to_reach_redis():
    """saq's worker asks for the next job again as soon as asking failed: without a pause,
    every process with a worker spun a core for as long as Redis was down."""
    queue = SaqJobQueue(NOWHERE.format(port=free_port()), workers=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RedisConnectionError):
        await queue.queue.dequeue()
    paused = loop.time() - started
    await queue.close()

    assert paused >= UNREACHABLE_PAUSE_S


async def test_the_queue_closes_while_redis_is_down():
    """Raised from saq's farewell to Redis, the error cut the service's shutdown short."""
    queue = SaqJobQueue(NOWHERE.format(port=free_port()), workers=1)
    await queue.start(nothing)

    await queue.close()


async def test_a_job_saq_takes_for_lost_runs_to_its_end(own_redis: RedisServer):
    """saq's sweep can take a job that has just been dequeued for a dead worker's and abort
    it; the abort must not cut the run short (the database's lease decides that)."""
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []
    cut_short: list[str] = []

    async def run(job_id: str, beat: Callable[[], Awaitable[None]] | None) -> None:
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            if not release.is_set():
                cut_short.append(job_id)
            raise
        finished.append(job_id)

    queue = SaqJobQueue(own_redis.url, workers=1, lease_s=2)
    try:
        await queue.start(run)
        await queue.enqueue("job-1")
        await asyncio.wait_for(started.wait(), timeout=30)
        taken = await queue.queue.job("job-1")
        assert taken is not None
        await queue.queue.abort(taken, "taken for lost")  # what saq's sweep does

        async def aborted() -> bool:
            job = await queue.queue.job("job-1")
            return job is not None and job.status is Status.ABORTED

        await until(aborted, "saq's worker aborting the job")
        release.set()

        async def done() -> list[str]:
            return finished

        await until(done, "the run finishing", deadline_s=10)
    finally:
        await queue.close()

    # The run saq aborted went on to its end. saq may also deliver the job again: its sweep
    # races its own dequeue and retries a job it reads as still queued (seen in CI); in the
    # service the database's job lease turns such a second run away (PublishService).
    assert cut_short == []
    assert finished
    assert set(finished) == {"job-1"}
