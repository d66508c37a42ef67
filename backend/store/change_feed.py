"""Committed table changes told to every instance, so each one's GraphQL response cache
retires answers that another instance's writes made stale.

Each instance publishes the tables its commits changed on one Redis channel and bumps the
tables the others announce (backend.store.changes.TableVersions). Pub/sub is fire and
forget: while an instance is cut off from Redis it hears nothing, so on every
(re)subscription it bumps every table once: whatever it may have missed is retired. Until
then, the cache's max age bounds how stale an answer can get.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.observability import log
from backend.store.changes import EVERY_TABLE, TableVersions

CHANNEL = "twinland:table-changes"
RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # resubscription backoff while Redis is away


class RedisChangeFeed:
    def __init__(self, url: str, versions: TableVersions) -> None:
        self.redis: Redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self.versions = versions
        self.instance = uuid.uuid4().hex
        self._sends: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()  # set while the feed is heard (tests wait on it)
        versions.listen(self._announce)

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen_forever())

    def _announce(self, tables: frozenset[str]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a connection returned outside the service's loop (shutdown)
            return
        message = json.dumps({"from": self.instance, "tables": sorted(tables)})
        task = loop.create_task(self._publish(message))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _publish(self, message: str) -> None:
        try:
            await self.redis.publish(CHANNEL, message)
        except RedisError as error:  # the others' max age covers it; they resync later
            log.warning("table change not announced", error=str(error))

    async def _listen_forever(self) -> None:
        failures = 0
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # whatever changed while we were not listening is unknown: retire it all
                    self.versions.bump({EVERY_TABLE}, announce=False)
                    self.subscribed.set()
                    failures = 0
                    async for message in pubsub.listen():
                        self._heard(message.get("data"))
            except (RedisError, OSError) as error:
                self.subscribed.clear()
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("table change feed lost; retrying", error=str(error), retry_s=delay)
                await asyncio.sleep(delay)

    def _heard(self, data: object) -> None:
        try:
            change = json.loads(data) if isinstance(data, bytes | str) else {}
            origin, tables = change["from"], change["tables"]
        except (ValueError, TypeError, KeyError):
            log.warning("unreadable table change ignored")
            return
        if origin != self.instance and isinstance(tables, list):
            self.versions.bump({str(t) for t in tables}, announce=False)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await asyncio.gather(*self._sends, return_exceptions=True)
        await self.redis.aclose()
