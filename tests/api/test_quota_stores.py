"""Quota stores: the same decisions in process and in Redis; Redis shares them between
instances and, when unreachable, each instance limits on its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from backend.domain.quotas import Quota
from backend.quota_stores import InProcessQuotaStore, QuotaStore, RedisQuotaStore

REDIS_URL = os.environ.get("TWINLAND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BURST_3 = Quota("test", burst=3, per_second=0.001)  # no refill within a test


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[QuotaStore]:
    quotas: QuotaStore = (
        InProcessQuotaStore() if request.param == "memory" else RedisQuotaStore(REDIS_URL)
    )
    yield quotas
    await quotas.close()


def fresh_key() -> str:
    return uuid.uuid4().hex  # Redis is shared with other tests and runs


async def test_a_burst_then_a_refusal_with_the_wait(store: QuotaStore) -> None:
    key = fresh_key()
    decisions = [await store.take(BURST_3, key) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [round(d.remaining) for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after_s == pytest.approx(1000, rel=0.01)


async def test_keys_and_quotas_are_counted_apart(store: QuotaStore) -> None:
    key = fresh_key()
    for _ in range(3):
        await store.take(BURST_3, key)
    assert (await store.take(BURST_3, fresh_key())).allowed
    other = Quota("test-other", burst=3, per_second=0.001)
    assert (await store.take(other, key)).allowed


async def test_a_cost_above_the_burst_is_refused_and_takes_nothing(store: QuotaStore) -> None:
    key = fresh_key()
    too_much = await store.take(BURST_3, key, cost=4)
    assert not too_much.allowed
    assert too_much.retry_after_s == float("inf")
    assert (await store.take(BURST_3, key, cost=3)).allowed


async def test_redis_shares_one_budget_between_instances() -> None:
    first, second = RedisQuotaStore(REDIS_URL), RedisQuotaStore(REDIS_URL)
    key = fresh_key()
    try:
        taken = [await first.take(BURST_3, key), await second.take(BURST_3, key)]
        taken += [await first.take(BURST_3, key), await second.take(BURST_3, key)]
    finally:
        await first.close()
        await second.close()
    assert [d.allowed for d in taken] == [True, True, True, False]


async def test_without_redis_each_instance_limits_on_its_own() -> None:
    unreachable = RedisQuotaStore("redis://127.0.0.1:9/0")  # discard port: refused
    key = fresh_key()
    try:
        decisions = [await unreachable.take(BURST_3, key) for _ in range(4)]
    finally:
        await unreachable.close()
    assert [d.allowed for d in decisions] == [True, True, True, False]
