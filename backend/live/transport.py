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

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from backend.live.direct import DirectWriter
from backend.live.hub import HubUnavailable
from backend.live.protocol import (
    CLOSE_BAD_TOKEN,
    CLOSE_FULL,
    CLOSE_PROTOCOL,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    MAX_FRAME_BYTES,
    Hello,
    ProtocolError,
    parse_hello,
)
from backend.live.room import Tier
from backend.live.service import Connection, LiveService, now_s
from backend.live.tokens import JoinClaims, TokenError, verify_join_token
from backend.observability import Metrics

HELLO_TIMEOUT_S = 10.0
PREFIX = "/live/"


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


class LiveEndpoint:
    """ASGI middleware that serves WebSocket ``/live/{sessionId}`` itself and passes
    everything else on. Installed outermost (``create_app`` adds it last), it receives
    uvicorn's own ``send``, which lets broadcasts write straight to sockets
    (``backend.live.direct``); no other middleware has anything to do on this path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: LiveService,
        secret: str,
        allowed_origins: list[str],
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.service = service
        self.secret = secret
        self.origin_allowed = origin_checker(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "websocket" and path.startswith(PREFIX):
            session_id = path[len(PREFIX) :]
            if session_id and "/" not in session_id:
                await self.serve(WebSocket(scope, receive, send), session_id, send)
                return
        await self.app(scope, receive, send)

    async def serve(self, websocket: WebSocket, session_id: str, send: Send) -> None:
        if not self.origin_allowed(websocket):
            await websocket.close(code=4406, reason="origin not allowed")  # → HTTP 403
            return
        await websocket.accept()
        hello_and_claims = await self._hello(websocket, session_id)
        if hello_and_claims is None:
            return
        hello, claims = hello_and_claims
        try:
            runtime = await self.service.room(session_id)  # reads the hub's epoch
        except HubUnavailable:
            await websocket.close(CLOSE_TRY_AGAIN, "live sessions are unavailable; retry shortly")
            return
        if runtime is None:
            await websocket.close(CLOSE_BAD_TOKEN, "no such session")
            return
        refused = runtime.room.refusal(0, claims)
        if refused is not None:
            await websocket.close(refused.code, refused.reason)
            return
        try:
            verdict = await runtime.admit(claims)
        except HubUnavailable:
            await websocket.close(CLOSE_TRY_AGAIN, "live sessions are unavailable; retry shortly")
            return
        if verdict == "full":
            await websocket.close(CLOSE_FULL, "the session is full")
            return
        seat = Tier(verdict) if verdict != "local" else None

        async def send_frame(data: str | bytes) -> None:
            if isinstance(data, str):
                await websocket.send_text(data)
            else:
                await websocket.send_bytes(data)

        async def close_socket(code: int, reason: str) -> None:
            if websocket.client_state is not WebSocketState.DISCONNECTED:
                await websocket.close(code, reason[:120])

        connection = Connection(self.service.next_connection_id(), send_frame, close_socket)
        connection.direct = DirectWriter.of(send)
        if connection.direct is None:  # another server: frames go through ASGI, in order
            connection.writer = asyncio.create_task(connection.write_loop())
        runtime.connections[connection.id] = connection
        gauge = (
            self.metrics.live_connections.labels("direct" if connection.direct else "asgi")
            if self.metrics is not None
            else None
        )
        if gauge is not None:
            gauge.inc()
        room = runtime.room
        try:
            runtime.run(room.connect(connection.id, claims, hello, now_s(), seat))
            while not connection.closed.is_set():
                # a close from our side (kick, slow, end) also ends this receive: the
                # server queues a disconnect for it
                message = await websocket.receive()
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
        except (WebSocketDisconnect, RuntimeError):
            pass  # RuntimeError: receive after the close we sent (another server's way)
        finally:
            if gauge is not None:
                gauge.dec()
            runtime.connections.pop(connection.id, None)
            if connection.writer is not None:
                connection.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await connection.writer
            runtime.run(room.disconnect(connection.id))
            if seat is not None and claims.member_id not in room.members:
                await runtime.release(claims.member_id)  # gone, not reconnected elsewhere here
            if not connection.closed.is_set():
                connection.closed.set()
                with contextlib.suppress(Exception):
                    await close_socket(1000, "bye")

    async def _hello(
        self, websocket: WebSocket, session_id: str
    ) -> tuple[Hello, JoinClaims] | None:
        """The first frame, parsed and its token verified; None after closing with why."""
        try:
            first = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_S)
        except TimeoutError:
            await websocket.close(CLOSE_PROTOCOL, "no hello within 10 s")
            return None
        if first["type"] == "websocket.disconnect":
            return None
        text = first.get("text")
        if text is None or len(text) > MAX_FRAME_BYTES:
            await websocket.close(CLOSE_PROTOCOL, 'the first frame must be a JSON {"type":"hello"}')
            return None
        try:
            hello = parse_hello(text)
            claims = verify_join_token(self.secret, hello.token, session_id, now=datetime.now(UTC))
        except ProtocolError as error:
            await websocket.close(CLOSE_PROTOCOL, error.message[:120])
            return None
        except TokenError as error:
            await websocket.close(CLOSE_BAD_TOKEN, str(error)[:120])
            return None
        return hello, claims
