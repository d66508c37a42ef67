"""Build processes run with memory and CPU limits: a bomb or a runaway build fails its own
job with a typed failure, in its own process, and the next job runs normally."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

import pytest

from backend.publishing.service import BuildTimeout, _failure, build_executor


def allocate_gib(gib: int) -> int:
    import numpy as np

    return int(np.ones(gib * 2**30, dtype=np.uint8).sum())


def spin() -> None:
    while True:
        pass


def answer() -> int:
    return 42


@pytest.fixture
def limited() -> Executor:
    executor = build_executor(1, memory_mb=3072, cpu_s=5)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


async def run(executor: Executor, fn: Callable[..., object], *args: object) -> object:
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)


async def test_a_memory_bomb_fails_with_out_of_memory_and_the_next_job_runs(limited: Executor):
    with pytest.raises(MemoryError) as caught:
        await run(limited, allocate_gib, 8)
    assert _failure(caught.value).code == "out_of_memory"
    assert await run(limited, answer) == 42


async def test_a_runaway_build_fails_with_a_timeout_and_the_next_job_runs(limited: Executor):
    with pytest.raises(BuildTimeout) as caught:
        await run(limited, spin)
    failure = _failure(caught.value)
    assert (failure.code, failure.retryable) == ("timeout", False)
    assert "5 s of CPU time" in failure.message
    assert await run(limited, answer) == 42
