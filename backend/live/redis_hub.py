"""The Redis hub: several instances share live sessions.

Per session (keys share a ``{session}`` hash tag, so they live on one cluster slot):

  ``twinland:live:{s}:events``  a Stream: the one order of reliable events. Publishing is
                                XADD; every instance, the publisher included, reads the
                                stream and applies what it reads, so all agree.
  ``twinland:live:{s}:epoch``   names this history. Redis here keeps nothing on disk, so
                                a restart empties the stream and removes the key; the
                                first instance to notice sets a new one, and every room
                                learns it through an ``{"kind": "epoch"}`` event.
  ``twinland:live:{s}:state``   a pub/sub channel: each instance's lossy state (poses,
                                camera, reactions) every tick.
  ``…:alive:<instance>``        set with a 10 s expiry every tick: the instance's heartbeat.
  ``…:instances``, ``…:seats:<instance>``, ``…:counts:<instance>``
                                who holds which seat (avatar or spectator), per instance;
                                one Lua script admits atomically across all instances and
                                frees the seats of instances whose heartbeat expired.

A room that starts on an instance reads the stream from the beginning, so it rebuilds
the same state and ``seq`` as the rooms that were there first. The stream is capped at
``max_events`` (about a day of a busy session); a room starting after a trim would
number differently, which is why the cap is generous.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.live.hub import Deliver, DeliverState, HubUnavailable, Unsubscribe, Verdict
from backend.observability import log

READ_BLOCK_MS = 1_000
ALIVE_S = 10  # an instance whose heartbeat is older than this has its seats freed

# KEYS[1]: the instances set. ARGV: key prefix, this instance, member, staff (1/0),
# avatar capacity, spectator overflow. Returns the seat, or false when full.
ADMIT_LUA = """
local prefix, me, member = ARGV[1], ARGV[2], ARGV[3]
local staff, capacity, overflow = ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[6])
local avatars, spectators, seat = 0, 0, false
for _, inst in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local seats, counts = prefix .. 'seats:' .. inst, prefix .. 'counts:' .. inst
  if inst ~= me and redis.call('EXISTS', prefix .. 'alive:' .. inst) == 0 then
    redis.call('SREM', KEYS[1], inst)
    redis.call('DEL', seats, counts)
  else
    local held = redis.call('HGET', seats, member)
    if held then
      seat = held
      redis.call('HDEL', seats, member)
      redis.call('HINCRBY', counts, held, -1)
    end
    avatars = avatars + tonumber(redis.call('HGET', counts, 'avatar') or '0')
    spectators = spectators + tonumber(redis.call('HGET', counts, 'spectator') or '0')
  end
end
if not seat then
  if staff or avatars < capacity then seat = 'avatar'
  elseif spectators < overflow then seat = 'spectator'
  else return false end
end
redis.call('SADD', KEYS[1], me)
redis.call('SET', prefix .. 'alive:' .. me, '1', 'EX', ARGV[7])
redis.call('HSET', prefix .. 'seats:' .. me, member, seat)
redis.call('HINCRBY', prefix .. 'counts:' .. me, seat, 1)
return seat
"""

# KEYS[1]: this instance's seats, KEYS[2]: its counts. ARGV[1]: member.
RELEASE_LUA = """
local seat = redis.call('HGET', KEYS[1], ARGV[1])
if seat then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HINCRBY', KEYS[2], seat, -1)
end
return seat
"""
EPOCH_CHECK_S = 2.0  # how soon a Redis restart is noticed even without a read error
RETRY_S = (0.1, 0.2, 0.5, 1.0, 2.0)


class RedisHub:
    def __init__(
        self, url: str, *, prefix: str = "twinland:live", max_events: int = 200_000
    ) -> None:
        self.instance_id = secrets.token_hex(4)
        self.prefix = prefix
        self.max_events = max_events
        self.redis: Redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._readers: dict[str, _StreamReader] = {}
        self._state_readers: dict[str, _StateReader] = {}
        self._admit = self.redis.register_script(ADMIT_LUA)
        self._release = self.redis.register_script(RELEASE_LUA)

    def key(self, session_id: str, part: str) -> str:
        return f"{self.prefix}:{{{session_id}}}:{part}"

    async def ping(self) -> None:
        # redis-py 7 types ping() for both clients as Awaitable[bool] | bool
        await self.redis.ping()  # type: ignore[misc]

    async def epoch(self, session_id: str) -> str:
        key = self.key(session_id, "epoch")
        try:
            await self.redis.set(key, secrets.token_hex(8), nx=True)
            value = await self.redis.get(key)
        except RedisError as error:
            raise HubUnavailable(f"redis: {error}") from error
        if value is None:  # deleted between the two calls: try once more
            return await self.epoch(session_id)
        return value.decode() if isinstance(value, bytes) else str(value)

    async def publish(self, session_id: str, event: dict[str, Any]) -> None:
        try:
            await self.redis.xadd(
                self.key(session_id, "events"),
                {"e": json.dumps(event, separators=(",", ":"))},
                maxlen=self.max_events,
                approximate=True,
            )
        except RedisError as error:
            raise HubUnavailable(f"redis: {error}") from error

    async def subscribe(self, session_id: str, deliver: Deliver) -> Unsubscribe:
        if session_id in self._readers:
            raise RuntimeError("one room per session per instance")
        reader = _StreamReader(self, session_id, deliver)
        self._readers[session_id] = reader
        try:
            await reader.start()  # the history reaches ``deliver`` before this returns
        except BaseException:
            # not started (Redis away): the next room for this session may try again
            self._readers.pop(session_id, None)
            reader.stop()
            raise

        def unsubscribe() -> None:
            self._readers.pop(session_id, None)
            reader.stop()

        return unsubscribe

    async def admit(
        self, session_id: str, member_id: int, *, staff: bool, capacity: int, overflow: int
    ) -> Verdict:
        prefix = self.key(session_id, "")
        try:
            seat = await self._admit(
                keys=[self.key(session_id, "instances")],
                args=[prefix, self.instance_id, member_id, int(staff), capacity, overflow, ALIVE_S],
            )
        except RedisError as error:
            raise HubUnavailable(f"redis: {error}") from error
        if not seat:
            return "full"
        return (
            "avatar"
            if (seat.decode() if isinstance(seat, bytes) else seat) == "avatar"
            else "spectator"
        )

    async def release(self, session_id: str, member_id: int) -> None:
        try:
            await self._release(
                keys=[
                    self.key(session_id, f"seats:{self.instance_id}"),
                    self.key(session_id, f"counts:{self.instance_id}"),
                ],
                args=[member_id],
            )
        except RedisError as error:
            raise HubUnavailable(f"redis: {error}") from error

    async def publish_state(self, session_id: str, state: bytes) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.publish(
                    self.key(session_id, "state"), self.instance_id.encode() + b"|" + state
                )
                pipe.set(self.key(session_id, f"alive:{self.instance_id}"), b"1", ex=ALIVE_S)
                await pipe.execute()
        except RedisError as error:
            raise HubUnavailable(f"redis: {error}") from error

    async def subscribe_state(self, session_id: str, deliver: DeliverState) -> Unsubscribe:
        reader = _StateReader(self, session_id, deliver)
        self._state_readers[session_id] = reader
        reader.start()

        def unsubscribe() -> None:
            self._state_readers.pop(session_id, None)
            reader.stop()

        return unsubscribe

    async def close(self) -> None:
        for reader in list(self._readers.values()):
            reader.stop()
        for state_reader in list(self._state_readers.values()):
            state_reader.stop()
        self._readers.clear()
        self._state_readers.clear()
        await self.redis.aclose()


class _StreamReader:
    """Reads one session's stream in order and hands each event to the room."""

    def __init__(self, hub: RedisHub, session_id: str, deliver: Deliver) -> None:
        self.hub = hub
        self.session_id = session_id
        self.stream = hub.key(session_id, "events")
        self.deliver = deliver
        self.last_id = b"0"
        self.epoch = ""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the history before returning, so the room is complete when it opens."""
        self.epoch = await self.hub.epoch(self.session_id)
        try:
            while await self._read(block_ms=None):
                pass
        except RedisError as error:
            raise HubUnavailable(f"redis: {error}") from error
        self._task = asyncio.create_task(self._follow())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _read(self, block_ms: int | None) -> int:
        # redis-py types replies loosely; a stream read is [(stream, [(id, {field: value})])]
        response: Any = await self.hub.redis.xread(
            {self.stream: self.last_id}, count=500, block=block_ms
        )
        count = 0
        for _stream, entries in response or ():
            for entry_id, fields in entries:
                self.last_id = entry_id
                count += 1
                try:
                    event = json.loads(fields[b"e"])
                except (KeyError, ValueError):
                    log.error("unreadable live event skipped", session=self.session_id, id=entry_id)
                    continue
                self._emit(event)
        return count

    def _emit(self, event: dict[str, Any]) -> None:
        try:
            self.deliver(event)
        except Exception:  # a bug in one event must not stop the session
            log.exception(
                "live event failed to apply", session=self.session_id, kind=event.get("kind")
            )

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        next_epoch_check = loop.time() + EPOCH_CHECK_S
        failures = 0
        while True:
            try:
                if loop.time() >= next_epoch_check or failures:
                    await self._check_epoch()
                    next_epoch_check = loop.time() + EPOCH_CHECK_S
                await self._read(block_ms=READ_BLOCK_MS)
                if failures:
                    log.info("live hub reconnected", session=self.session_id)
                failures = 0
            except asyncio.CancelledError:
                raise
            except (RedisError, HubUnavailable, OSError) as error:
                if failures == 0:
                    log.warning("live hub unavailable", session=self.session_id, error=str(error))
                await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1

    async def _check_epoch(self) -> None:
        current = await self.hub.epoch(self.session_id)
        if current != self.epoch:
            # the stream we followed is gone: start the new one from its beginning
            log.warning("live history lost; new epoch", session=self.session_id, epoch=current)
            self.epoch = current
            self.last_id = b"0"
            self._emit({"kind": "epoch", "epoch": current})


class _StateReader:
    """Other instances' lossy state for one session (pub/sub; gaps are harmless)."""

    def __init__(self, hub: RedisHub, session_id: str, deliver: DeliverState) -> None:
        self.hub = hub
        self.channel = hub.key(session_id, "state")
        self.deliver = deliver
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        failures = 0
        own = self.hub.instance_id.encode()
        while True:
            pubsub = self.hub.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                failures = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or not isinstance(message.get("data"), bytes):
                        continue
                    instance, _, state = message["data"].partition(b"|")
                    if instance != own:
                        with contextlib.suppress(Exception):
                            self.deliver(instance.decode(), state)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    # redis-py leaves PubSub.aclose unannotated
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except (RedisError, OSError):
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1
