"""Frames written straight to a client's socket: how one instance feeds thousands.

Through ASGI, every frame to every client costs a queue hand-off, a task switch, three
wrapper layers and the protocol's own framing — about 18 µs of Python per client per
frame on this machine, which capped a guide's 20 Hz camera at ~2,000 followers. A
broadcast sends the *same* frame to everyone, so here it is serialised once and written
to each client's transport directly.

This relies on uvicorn's ``websockets-sansio`` protocol (what ``twinland serve`` runs):
its ASGI ``send`` is a bound method of the protocol object that owns the transport.
Under any other server ``DirectWriter.of`` returns None and the endpoint sends through
ASGI as usual. Only data frames go this way; the handshake, close, ping and pong stay
with the protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.frames import Frame, Opcode

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - uvicorn without the sansio implementation
    # the name stays defined so DirectWriter.of can test for it and fall back to ASGI
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

# A client with this much unsent is not reading (about 150 tick frames of 200 avatars, or
# 10 s of a 20 Hz camera to a phone on a bad link): it is dropped instead of buffered.
MAX_BUFFERED_BYTES = 512 * 1024


def serialize(data: str | bytes) -> bytes:
    """One unmasked server frame (text for str, binary for bytes), as sent on the wire."""
    if isinstance(data, str):
        return Frame(Opcode.TEXT, data.encode()).serialize(mask=False)
    return Frame(Opcode.BINARY, data).serialize(mask=False)


class DirectWriter:
    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self._abort: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, send: Any) -> DirectWriter | None:
        owner = getattr(send, "__self__", None)
        if WebSocketsSansIOProtocol is not None and isinstance(owner, WebSocketsSansIOProtocol):
            return cls(owner)
        return None

    def write(self, frame: bytes) -> bool:
        """Write a serialised frame; False when the client has fallen too far behind."""
        protocol = self.protocol
        transport = protocol.transport
        if protocol.close_sent or transport is None or transport.is_closing():
            return True  # closing anyway: nothing more to send, nothing to drop
        if transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            return False
        transport.write(frame)
        return True

    def abort_after(self, delay_s: float) -> None:
        """Cut the connection in ``delay_s`` (nothing more is sent, what is unsent is
        dropped) unless it has ended by then; a no-op when already scheduled."""
        if self._abort is None:
            transport = self.protocol.transport
            self._abort = asyncio.get_running_loop().call_later(delay_s, transport.abort)
