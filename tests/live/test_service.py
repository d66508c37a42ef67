"""RoomRuntime: a client that stops reading is dropped; the others are not slowed.

A real stalled TCP reader takes minutes to fill the kernel's buffers, so the socket is
replaced here by callables: one that never finishes a send, one that records frames.
"""

from __future__ import annotations

import asyncio

from backend.live.hub import InProcessHub
from backend.live.protocol import CLOSE_SLOW_CONSUMER
from backend.live.room import Broadcast, LiveRoom, RoomConfig
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
