"""Where quota state lives: process memory (one instance, the default) or Redis (shared, so
a limit holds across every instance). Both run ``backend.domain.quotas.decide``; Redis runs
the same arithmetic in a Lua script with the server's clock, so instances with skewed
clocks still agree and two requests cannot both take the last unit.

When Redis cannot be reached, the Redis store falls back to a per-instance store for that
request and logs it: the API keeps answering (reads must not depend on Redis), and each
instance still enforces the limit on its own share.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.domain.errors import RateLimited
from backend.domain.quotas import Quota, QuotaDecision, decide
from backend.observability import log

MAX_TRACKED_KEYS = 100_000  # per quota, in process memory; least recently used forgotten

# KEYS[1] the client's TAT key; ARGV: burst, seconds per unit, cost. Returns
# {allowed (0/1), retry_after_s, remaining} as strings (Lua numbers lose their fraction).
GCRA_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local burst = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local function remaining(t) return math.max(0, burst - (t - now) / interval) end
if cost > burst then
  return {0, 'inf', tostring(remaining(tat))}
end
local new_tat = tat + cost * interval
local allowed_at = new_tat - burst * interval
if allowed_at - now > 0.000001 then
  return {0, tostring(allowed_at - now), tostring(remaining(tat))}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {1, '0', tostring(remaining(new_tat))}
"""


class QuotaStore(Protocol):
    scale: float  # multiplies per-person quotas (Quota.scaled)

    async def take(self, quota: Quota, key: str, cost: float = 1.0) -> QuotaDecision:
        """Take ``cost`` units of ``quota`` (scaled by ``scale``) for ``key`` (a visitor, an
        API key, an address); a refusal takes nothing."""
        ...

    async def close(self) -> None: ...


async def spend(quotas: QuotaStore, quota: Quota, key: str, what: str, cost: float = 1) -> None:
    """Take ``cost`` units or raise RateLimited naming ``what`` and the wait."""
    decision = await quotas.take(quota, key, cost)
    if not decision.allowed:
        wait_s = math.ceil(decision.retry_after_s)
        raise RateLimited(
            f"too many {what} ({quota.scaled(quotas.scale).describe()}); try again in {wait_s} s",
            decision.retry_after_s,
        )


class InProcessQuotaStore:
    def __init__(self, clock: Callable[[], float] | None = None, scale: float = 1.0) -> None:
        self._clock = clock or time.monotonic
        self.scale = scale
        self._tats: dict[str, OrderedDict[str, float]] = {}

    async def take(self, quota: Quota, key: str, cost: float = 1.0) -> QuotaDecision:
        return self.take_now(quota, key, cost)

    def take_now(self, quota: Quota, key: str, cost: float = 1.0) -> QuotaDecision:
        tats = self._tats.setdefault(quota.name, OrderedDict())
        decision, tat = decide(quota.scaled(self.scale), tats.get(key), self._clock(), cost)
        if decision.allowed:
            tats[key] = tat
            tats.move_to_end(key)
            if len(tats) > MAX_TRACKED_KEYS:
                tats.popitem(last=False)
        return decision

    async def close(self) -> None:
        return None


class RedisQuotaStore:
    def __init__(self, url: str, prefix: str = "twinland:quota:", scale: float = 1.0) -> None:
        self.redis: Redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self.prefix = prefix
        self.scale = scale
        self._gcra = self.redis.register_script(GCRA_LUA)
        self.fallback = InProcessQuotaStore()  # is handed quotas already scaled
        self._degraded = False

    async def take(self, quota: Quota, key: str, cost: float = 1.0) -> QuotaDecision:
        quota = quota.scaled(self.scale)
        try:
            allowed, retry, remaining = await self._gcra(
                keys=[f"{self.prefix}{quota.name}:{key}"],
                args=[repr(quota.burst), repr(quota.seconds_per_unit), repr(float(cost))],
            )
        except (RedisError, OSError) as error:
            if not self._degraded:
                log.warning("quotas: redis unreachable, limiting per instance", error=str(error))
                self._degraded = True
            return self.fallback.take_now(quota, key, cost)
        if self._degraded:
            log.info("quotas: redis is back, limits are shared again")
            self._degraded = False
        return QuotaDecision(
            bool(int(allowed)), float(_text(retry)), max(0.0, float(_text(remaining)))
        )

    async def close(self) -> None:
        await self.redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
