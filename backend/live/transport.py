"""``/live/{sessionId}``: the WebSocket adapter between a socket and its room.

Parses and checks what arrives (Origin, size, the hello and its token), hands frames to
the room, and lets ``RoomRuntime`` carry out what the room answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from backend.live.protocol import (
    CLOSE_BAD_TOKEN,
    CLOSE_PROTOCOL,
    CLOSE_TOO_BIG,
    MAX_FRAME_BYTES,
    ProtocolError,
    parse_hello,
)
from backend.live.service import Connection, LiveService, now_s
from backend.live.tokens import TokenError, verify_join_token

HELLO_TIMEOUT_S = 10.0


def origin_checker(allowed: list[str]) -> Callable[[WebSocket], bool]:
    """Browsers send Origin; a page on another site must not ride a visitor's session.
    Clients without an Origin (native apps, VR runtimes, scripts) are not browsers and
    carry their own token, so they pass."""
    allowed_set = {o.rstrip("/") for o in allowed}

    def check(websocket: WebSocket) -> bool:
        origin = websocket.headers.get("origin")
        if origin is None or "*" in allowed_set:
            return True
        origin = origin.rstrip("/")
        if origin in allowed_set:
            return True
        own = urlsplit(origin)
        host = websocket.headers.get("host", "")
        return own.netloc == host  # same origin as the service itself

    return check


def live_router(service: LiveService, secret: str, allowed_origins: list[str]) -> APIRouter:
    router = APIRouter()
    origin_allowed = origin_checker(allowed_origins)

    @router.websocket("/live/{session_id}")
    async def live(websocket: WebSocket, session_id: str) -> None:
        if not origin_allowed(websocket):
            await websocket.close(code=4406, reason="origin not allowed")  # → HTTP 403
            return
        await websocket.accept()
        try:
            first = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_S)
        except TimeoutError:
            await websocket.close(CLOSE_PROTOCOL, "no hello within 10 s")
            return
        if first["type"] == "websocket.disconnect":
            return
        text = first.get("text")
        if text is None or len(text) > MAX_FRAME_BYTES:
            await websocket.close(CLOSE_PROTOCOL, 'the first frame must be a JSON {"type":"hello"}')
            return
        try:
            hello = parse_hello(text)
            claims = verify_join_token(secret, hello.token, session_id, now=datetime.now(UTC))
        except ProtocolError as error:
            await websocket.close(CLOSE_PROTOCOL, error.message[:120])
            return
        except TokenError as error:
            await websocket.close(CLOSE_BAD_TOKEN, str(error)[:120])
            return
        runtime = await service.room(session_id)
        if runtime is None:
            await websocket.close(CLOSE_BAD_TOKEN, "no such session")
            return

        async def send_frame(data: str | bytes) -> None:
            if isinstance(data, str):
                await websocket.send_text(data)
            else:
                await websocket.send_bytes(data)

        async def close_socket(code: int, reason: str) -> None:
            if websocket.client_state is not WebSocketState.DISCONNECTED:
                await websocket.close(code, reason[:120])

        connection = Connection(service.next_connection_id(), send_frame, close_socket)
        runtime.connections[connection.id] = connection
        connection.writer = asyncio.create_task(connection.write_loop())
        room = runtime.room
        try:
            runtime.run(room.connect(connection.id, claims, hello, now_s()))
            while not connection.closed.is_set():
                reader = asyncio.create_task(websocket.receive())
                closed = asyncio.create_task(connection.closed.wait())
                done, _ = await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
                if reader not in done:
                    reader.cancel()
                    break
                closed.cancel()
                message = reader.result()
                if message["type"] == "websocket.disconnect":
                    break
                data: str | bytes | None = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                if len(data) > MAX_FRAME_BYTES:
                    await connection.close(
                        CLOSE_TOO_BIG, f"frames are at most {MAX_FRAME_BYTES} bytes"
                    )
                    break
                if isinstance(data, str):
                    runtime.run(room.receive_text(connection.id, data, now_s()))
                else:
                    runtime.run(room.receive_binary(connection.id, data, now_s()))
        except WebSocketDisconnect:
            pass
        finally:
            runtime.connections.pop(connection.id, None)
            if connection.writer is not None:
                connection.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await connection.writer
            runtime.run(room.disconnect(connection.id))
            if not connection.closed.is_set():
                connection.closed.set()
                with contextlib.suppress(Exception):
                    await close_socket(1000, "bye")

    return router
