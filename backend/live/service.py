"""Runs live rooms on this instance: connections, outbound queues, the tick, the hub.

This is the I/O half around ``LiveRoom``: it owns sockets' outbound queues and tasks and
carries out the room's outputs. Nothing here decides a rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backend.domain.live_session import LiveSession, ModerationRecord
from backend.live.direct import DirectWriter, serialize
from backend.live.hub import Hub, HubUnavailable, Unsubscribe, Verdict
from backend.live.outputs import (
    Broadcast,
    Close,
    ConnId,
    Output,
    Publish,
    Record,
    Send,
    ShareState,
)
from backend.live.protocol import CLOSE_SLOW_CONSUMER, dumps
from backend.live.room import LiveRoom, RoomConfig
from backend.live.tokens import JoinClaims
from backend.observability import log

OUTBOUND_QUEUE_FRAMES = 256  # ~25 s of ticks: a client this far behind has stopped reading
# A dropped slow client gets its close frame only after reading what is queued before it;
# one that has not within this long has stopped reading, and its socket is cut.
SLOW_CONSUMER_GRACE_S = 5.0
# What the GraphQL subscription carries: the low-rate events of a session, for clients that
# do not speak the live protocol (a kiosk showing poll results, a county's web page).
LISTENED_TYPES = frozenset(
    {"status", "poll", "poll.tally", "poll.closed", "announcement", "spotlight", "scene"}
)
LISTENER_QUEUE_EVENTS = 64

SendFrame = Callable[[str | bytes], Awaitable[None]]
CloseSocket = Callable[[int, str], Awaitable[None]]
LoadSession = Callable[[str], Awaitable[LiveSession | None]]
LoadBans = Callable[[str], Awaitable[set[int]]]
SaveModeration = Callable[[ModerationRecord], Awaitable[None]]


@dataclass(eq=False)
class Connection:
    id: ConnId
    send_frame: SendFrame
    close_socket: CloseSocket
    queue: asyncio.Queue[str | bytes | None] = field(
        default_factory=lambda: asyncio.Queue(OUTBOUND_QUEUE_FRAMES)
    )
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    writer: asyncio.Task[None] | None = None
    direct: DirectWriter | None = None  # straight to the socket when the server allows it

    def push(self, data: str | bytes, frame: bytes | None = None) -> bool:
        """Send a frame (``frame``: ``data`` already serialised, shared by a broadcast);
        False when the client has stopped reading and must be dropped."""
        if self.closed.is_set():
            return True
        if self.direct is not None:
            return self.direct.write(frame if frame is not None else serialize(data))
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            return False
        return True

    async def write_loop(self) -> None:
        while True:
            data = await self.queue.get()
            if data is None:
                return
            await self.send_frame(data)

    async def close(self, code: int, reason: str) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.close_code = code
        if self.writer is not None:
            self.writer.cancel()
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self.close_socket(code, reason)


class RoomRuntime:
    """One room on this instance, with its local connections and tick task."""

    def __init__(self, room: LiveRoom, hub: Hub, save: SaveModeration) -> None:
        self.room = room
        self.hub = hub
        self.save = save
        self.connections: dict[ConnId, Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: list[Unsubscribe] = []
        self._ticker: asyncio.Task[None] | None = None
        # one publisher, first in first out: a client's events reach the hub in the order
        # it sent them (concurrent publishes could overtake each other)
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None
        self.listeners: set[asyncio.Queue[dict[str, Any] | None]] = set()

    @classmethod
    async def start(cls, room: LiveRoom, hub: Hub, save: SaveModeration) -> RoomRuntime:
        """Subscribe (replaying the session's history into the room), then start ticking."""
        runtime = cls(room, hub, save)
        runtime._unsubscribe.append(await hub.subscribe(room.session_id, runtime._deliver))
        runtime._unsubscribe.append(
            await hub.subscribe_state(room.session_id, runtime._deliver_state)
        )
        runtime._ticker = asyncio.create_task(runtime._tick_loop())
        runtime._publisher = asyncio.create_task(runtime._publish_loop())
        return runtime

    async def admit(self, claims: JoinClaims) -> Verdict:
        return await self.hub.admit(
            self.room.session_id,
            claims.member_id,
            staff=claims.role.is_staff,
            capacity=self.room.capacity,
            overflow=self.room.config.overflow_capacity,
        )

    async def release(self, member_id: int) -> None:
        try:
            await self.hub.release(self.room.session_id, member_id)
        except HubUnavailable:  # the seat goes with this instance's heartbeat, or the epoch
            log.warning("live seat not released", session=self.room.session_id, member=member_id)

    def _deliver(self, event: dict[str, Any]) -> None:
        try:
            self.run(self.room.apply(event))
        except Exception:
            # raised from here it ended the publisher (or the Redis reader): one event that
            # cannot be applied would silence the session for everyone from then on
            log.exception(
                "live event not applied", session=self.room.session_id, kind=event.get("kind")
            )

    def _deliver_state(self, instance: str, state: bytes) -> None:
        self.run(self.room.receive_state(instance, state))

    def run(self, outputs: list[Output]) -> None:
        """Carry out the room's outputs, in order."""
        for output in outputs:
            if isinstance(output, Send):
                connection = self.connections.get(output.conn)
                if connection is not None and not connection.push(output.data):
                    self._drop_slow(connection)
            elif isinstance(output, Broadcast):
                if self.listeners and output.only is None and isinstance(output.data, str):
                    self._notify(output.data)
                targets = (
                    self.connections.values()
                    if output.only is None
                    else [self.connections[c] for c in output.only if c in self.connections]
                )
                frame = serialize(output.data)  # once, however many receive it
                for connection in list(targets):
                    if not connection.push(output.data, frame):
                        self._drop_slow(connection)
            elif isinstance(output, Close):
                connection = self.connections.get(output.conn)
                if connection is not None:
                    self._spawn(connection.close(output.code, output.reason))
            elif isinstance(output, Publish):
                self._outbox.put_nowait(output.event)
            elif isinstance(output, ShareState):
                self._spawn(self._share(output.state))
            elif isinstance(output, Record):
                self._spawn(self._record(output.entry))

    def _notify(self, text: str) -> None:
        frame = json.loads(text)
        if frame.get("type") not in LISTENED_TYPES:
            return
        for queue in list(self.listeners):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:  # a listener this far behind is cut off, like a socket
                self.listeners.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    async def listen(self) -> AsyncIterator[dict[str, Any]]:
        """The session's low-rate events as they are applied, until the session ends or
        the listener falls behind."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(LISTENER_QUEUE_EVENTS)
        self.listeners.add(queue)
        try:
            while True:
                frame = await queue.get()
                if frame is None:
                    return
                yield frame
                if frame["type"] == "status" and frame.get("status") != "live":
                    return
        finally:
            self.listeners.discard(queue)

    def _drop_slow(self, connection: Connection) -> None:
        # one slow client is dropped instead of slowing everyone (it may resume)
        self._spawn(connection.close(CLOSE_SLOW_CONSUMER, "not reading: outbound queue full"))
        if connection.direct is not None:
            # uvicorn sends the close only once the client has read what is queued before
            # it; one that never reads kept its seat, its presence and its buffers for as
            # long as it held the TCP connection open
            connection.direct.abort_after(SLOW_CONSUMER_GRACE_S)

    async def _publish_loop(self) -> None:
        while True:
            event = await self._outbox.get()
            await self._publish(event)

    async def _publish(self, event: dict[str, Any]) -> None:
        try:
            await self.hub.publish(self.room.session_id, event)
        except HubUnavailable as error:
            # not published, so not acknowledged: the sender learns it and may retry
            log.warning("live event not published", session=self.room.session_id, error=str(error))
            author = event.get("by", {}).get("id")
            member = self.room.members.get(int(author)) if author is not None else None
            if member is not None and member.conn is not None:
                self.run(
                    [
                        Send(
                            member.conn,
                            error_frame(
                                "unavailable", "live events are unavailable; retry shortly"
                            ),
                        )
                    ]
                )

    async def _share(self, state: bytes) -> None:
        with contextlib.suppress(HubUnavailable):  # lossy: the next tick sends a fresher one
            await self.hub.publish_state(self.room.session_id, state)

    async def _record(self, entry: dict[str, Any]) -> None:
        by = entry["by"]
        record = ModerationRecord(
            session_id=entry["session"],
            member_id=int(entry["member"]),
            action=entry["action"],
            actor_id=int(by["id"]),
            actor_name=str(by["name"]),
            actor_role=str(by["role"]),
            reason=entry.get("reason"),
            at=datetime.fromtimestamp(float(entry["ts"]), UTC),
        )
        try:
            await self.save(record)
        except Exception:  # the ban holds in memory; the log must say what failed
            log.exception("could not persist a moderation action", **entry)
        else:
            log.info(
                "live moderation", **{k: v for k, v in entry.items() if k != "by"}, by=by["id"]
            )

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tick_loop(self) -> None:
        period_s = 1.0 / self.room.config.tick_hz
        loop = asyncio.get_running_loop()
        next_at = loop.time() + period_s
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += period_s
            if loop.time() - next_at > period_s:  # fell behind: skip, never burst
                next_at = loop.time() + period_s
            try:
                self.run(self.room.tick())
            except Exception:
                log.exception("live tick failed", session=self.room.session_id)

    async def stop(self, code: int, reason: str) -> None:
        for queue in list(self.listeners):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        for task in (self._ticker, self._publisher):
            if task is not None:
                task.cancel()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await asyncio.gather(
            *(c.close(code, reason) for c in list(self.connections.values())),
            return_exceptions=True,
        )


class LiveService:
    """Every room this instance serves, created on first connect."""

    def __init__(
        self,
        hub: Hub,
        *,
        load_session: LoadSession,
        load_bans: LoadBans,
        save_moderation: SaveModeration,
        config: RoomConfig,
    ) -> None:
        self.hub = hub
        self.load_session = load_session
        self.load_bans = load_bans
        self.save_moderation = save_moderation
        self.config = config
        self.rooms: dict[str, RoomRuntime] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    def next_connection_id(self) -> ConnId:
        return next(self._ids)

    async def room(self, session_id: str) -> RoomRuntime | None:
        runtime = self.rooms.get(session_id)
        if runtime is not None:
            return runtime
        async with self._lock:  # one room per session, however many connect at once
            runtime = self.rooms.get(session_id)
            if runtime is None:
                session = await self.load_session(session_id)
                if session is None:
                    return None
                room = LiveRoom(
                    session_id,
                    status=session.status.value,
                    capacity=session.capacity,
                    epoch=await self.hub.epoch(session_id),
                    banned=await self.load_bans(session_id),
                    config=self.config,
                    instance=self.hub.instance_id,
                )
                runtime = await RoomRuntime.start(room, self.hub, self.save_moderation)
                self.rooms[session_id] = runtime
        return runtime

    async def events(self, session_id: str) -> AsyncIterator[dict[str, Any]]:
        """Low-rate events of a session (see LISTENED_TYPES); nothing if it does not exist."""
        runtime = await self.room(session_id)
        if runtime is None:
            return
        async for frame in runtime.listen():
            yield frame

    def poll(self, session_id: str, poll_id: int) -> dict[str, Any] | None:
        runtime = self.rooms.get(session_id)
        poll = runtime.room.participation.polls.get(poll_id) if runtime is not None else None
        return poll.public() if poll is not None else None

    async def status_changed(self, session_id: str, status: str) -> None:
        """The session's lifecycle moved (GraphQL): tell every instance's room."""
        await self.hub.publish(session_id, {"kind": "status", "status": status})

    async def close(self, code: int, reason: str) -> None:
        await asyncio.gather(*(r.stop(code, reason) for r in self.rooms.values()))
        self.rooms.clear()
        await self.hub.close()


def now_s() -> float:
    return time.time()


def error_frame(code: str, message: str) -> str:
    return dumps({"type": "error", "code": code, "message": message})
