"""RoomRuntime: a client that stops reading is dropped; the others are not slowed.

A real stalled TCP reader takes minutes to fill the kernel's buffers, so the socket is
replaced here by callables: one that never finishes a send, one that records frames.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from backend.live import service
from backend.live.direct import MAX_BUFFERED_BYTES, DirectWriter, serialize
from backend.live.hub import InProcessHub
from backend.live.outputs import Broadcast, Publish
from backend.live.protocol import CLOSE_SLOW_CONSUMER
from backend.live.room import LiveRoom, RoomConfig
from backend.live.service import OUTBOUND_QUEUE_FRAMES, CloseSocket, Connection, RoomRuntime


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything():
    room = LiveRoom("s:1", status="live", capacity=10, epoch="e", config=RoomConfig())
    saved: list[object] = []

    async def save(record: object) -> None:
        saved.append(record)

    runtime = RoomRuntime(room, InProcessHub(), save)
    never = asyncio.Event()
    received: list[str | bytes] = []
    closes: dict[int, int] = {}

    async def stuck_send(data: str | bytes) -> None:
        await never.wait()  # the peer's window is shut: the send never completes

    async def fast_send(data: str | bytes) -> None:
        received.append(data)

    def closer(conn: int) -> CloseSocket:
        async def close(code: int, reason: str) -> None:
            closes[conn] = code

        return close

    slow = Connection(1, stuck_send, closer(1))
    fast = Connection(2, fast_send, closer(2))
    for connection in (slow, fast):
        runtime.connections[connection.id] = connection
        connection.writer = asyncio.create_task(connection.write_loop())

    frames = OUTBOUND_QUEUE_FRAMES + 50
    for i in range(frames):
        runtime.run([Broadcast(f"frame {i}")])
        await asyncio.sleep(0)  # let the writers run, as the event loop would
    await asyncio.sleep(0.05)

    assert closes == {1: CLOSE_SLOW_CONSUMER}
    assert len(received) == frames
    await runtime.stop(1000, "test over")


class _Transport:
    """Stands in for an asyncio transport whose peer stopped reading."""

    def __init__(self, buffered_bytes: int) -> None:
        self.buffered_bytes = buffered_bytes
        self.written: list[bytes] = []
        self.aborted = False

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered_bytes

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


class _Protocol:
    close_sent = False

    def __init__(self, transport: _Transport) -> None:
        self.transport = transport


async def test_direct_writes_serialise_a_broadcast_once_and_drop_a_client_that_stopped_reading(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(service, "SLOW_CONSUMER_GRACE_S", 0.01)
    room = LiveRoom("s:2", status="live", capacity=10, epoch="e", config=RoomConfig())

    async def save(record: object) -> None:
        return None

    runtime = RoomRuntime(room, InProcessHub(), save)
    closes: dict[int, int] = {}

    def closer(conn: int) -> CloseSocket:
        async def close(code: int, reason: str) -> None:
            closes[conn] = code

        return close

    async def unused(data: str | bytes) -> None:
        raise AssertionError("direct connections never send through ASGI")

    reading, stuck = _Transport(0), _Transport(MAX_BUFFERED_BYTES + 1)
    for conn, transport in ((1, reading), (2, stuck)):
        connection = Connection(conn, unused, closer(conn))
        connection.direct = DirectWriter(_Protocol(transport))
        runtime.connections[conn] = connection

    runtime.run([Broadcast(b"\x02tick")])
    await asyncio.sleep(0.05)

    assert reading.written == [serialize(b"\x02tick")] == [b"\x82\x05\x02tick"]
    assert stuck.written == []
    assert closes == {2: CLOSE_SLOW_CONSUMER}
    # its close frame could only follow what it does not read: the socket is cut instead
    assert (reading.aborted, stuck.aborted) == (False, True)
    await runtime.stop(1000, "test over")


async def test_an_event_the_room_cannot_apply_does_not_silence_the_session():
    room = LiveRoom("s:3", status="live", capacity=10, epoch="e", config=RoomConfig())

    async def save(record: object) -> None:
        return None

    runtime = await RoomRuntime.start(room, InProcessHub(), save)
    received: list[str | bytes] = []

    async def record(data: str | bytes) -> None:
        received.append(data)

    async def close(code: int, reason: str) -> None:
        return None

    listener = Connection(1, record, close)
    listener.writer = asyncio.create_task(listener.write_loop())
    runtime.connections[listener.id] = listener
    by = {"id": 7, "name": "Mina", "role": "attendee", "tier": "avatar"}

    runtime.run([Publish({"kind": "chat", "by": by, "ts": 1.0})])  # no text: apply fails
    runtime.run([Publish({"kind": "chat", "by": by, "text": "later", "ts": 2.0})])
    await asyncio.sleep(0.05)

    assert [json.loads(frame)["text"] for frame in received] == ["later"]
    await runtime.stop(1000, "test over")
