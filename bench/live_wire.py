"""A minimal WebSocket client (RFC 6455) on asyncio's Protocol API, for load generation.

The load generator shares two cores with the server it measures, so a client must cost
almost nothing: one handshake, frames parsed from a byte buffer, and — for clients whose
messages are not measured — no parsing at all. Client frames are masked with a zero key
(legal; unpredictability only matters against proxy cache poisoning, not on loopback).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import cast

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
OnFrame = Callable[["WsClient", int, bytes], None]


class WsClient(asyncio.Protocol):
    def __init__(
        self, host: str, path: str, on_frame: OnFrame | None, *, parse: bool = True
    ) -> None:
        self.host = host
        self.path = path
        self.on_frame = on_frame
        self.parse = parse  # False: count bytes only (and answer nothing)
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.bytes_received = 0

    @classmethod
    async def connect(
        cls, port: int, path: str, on_frame: OnFrame | None = None, *, parse: bool = True
    ) -> WsClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(
            lambda: cls(f"127.0.0.1:{port}", path, on_frame, parse=parse), "127.0.0.1", port
        )
        await asyncio.wait_for(client.upgraded, 30)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        if not self.upgraded.done():
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            del self.buffer[: end + 4]
            self.upgraded.set_result(None)
            if not self.buffer:
                return
            data = b""
        if not self.parse:
            return
        self.buffer += data
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = struct.unpack_from(">H", buffer, 2)[0]
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = struct.unpack_from(">Q", buffer, 2)[0]
                offset = 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            if opcode == PING:
                self.send(PONG, payload)
            elif opcode == CLOSE:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                self.send(CLOSE, payload[:2])
                if self.transport is not None:
                    self.transport.close()
            elif self.on_frame is not None:
                self.on_frame(self, opcode, payload)

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        length = len(payload)
        if length < 126:
            header = struct.pack(">BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, length)
        self.transport.write(header + b"\x00\x00\x00\x00" + payload)  # zero mask key

    def send_text(self, text: str) -> None:
        self.send(TEXT, text.encode())

    def stop_reading(self) -> None:
        """Behave like a client that stopped reading: the kernel buffers fill, then TCP
        pushes back on the server."""
        if self.transport is not None:
            self.transport.pause_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
