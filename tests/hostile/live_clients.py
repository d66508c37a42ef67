"""Live-session clients for the hostile suite: a server that starts in seconds (one scene
without layers, so nothing goes through the asset pipeline first), tickets minted with
its secret (any role, any expiry, no join quota spent), and what no polite client sends:
raw frames, stalled sockets, peak-memory readings of the server process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.utils import apply_mask

from backend.live.tokens import Role, issue_join_token
from tests.live.server import LiveServer

LIVE_SECRET = "hostile-suite-live-secret-of-at-least-32-chars"
SCENE = "gijang-osiria"  # the slug tests.live.server.new_live_session creates sessions in
SCENE_TOML = f"""schema_version = 1
slug = "{SCENE}"

[region]
slug = "gijang"
name = {{ en = "Gijang County" }}
bounds = {{ south = 35.165, west = 129.1, north = 35.39, east = 129.32 }}
default_locales = ["en"]

[scene]
name = {{ en = "Osiria Tourism Complex" }}
origin = {{ lat = 35.1915, lon = 129.216 }}
extent_m = {{ east = 7000.0, north = 12500.0 }}
"""


def start_live_server(folder: Path) -> LiveServer:
    scene = folder / "scenes" / SCENE
    scene.mkdir(parents=True)
    (scene / "scene.toml").write_text(SCENE_TOML)
    return LiveServer(folder / "data", scenes=[scene], TWINLAND_LIVE_SECRET=LIVE_SECRET)


def ticket(
    session_id: str,
    role: Role = Role.ATTENDEE,
    name: str = "visitor",
    *,
    issued: datetime | None = None,
    secret: str = LIVE_SECRET,
) -> str:
    """A join token valid for an hour from ``issued`` (now by default)."""
    token, _ = issue_join_token(
        secret,
        session_id,
        name,
        role,
        now=issued or datetime.now(UTC),
        ttl=timedelta(hours=1),
    )
    return token


async def join(
    server: LiveServer,
    session_id: str,
    role: Role = Role.ATTENDEE,
    name: str = "visitor",
    **connect_options: Any,
) -> tuple[ClientConnection, dict[str, Any]]:
    """A connected, welcomed client (``connect_options`` go to websockets' ``connect``)."""
    ws = await connect(f"{server.ws_base}/live/{session_id}", **connect_options)
    await ws.send(json.dumps({"type": "hello", "token": ticket(session_id, role, name)}))
    welcome: dict[str, Any] = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def still_serves(server: LiveServer, session_id: str, **connect_options: Any) -> None:
    """The session still works: a fresh client joins it and its chat comes back to it."""
    ws, _ = await join(server, session_id, name="bystander", **connect_options)
    await ws.send(json.dumps({"type": "chat", "text": "still here"}))
    assert (await next_json(ws, "chat"))["text"] == "still here"
    await ws.close()


async def next_json(ws: ClientConnection, kind: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The next JSON frame of ``kind``, skipping tick frames and other kinds."""
    async with asyncio.timeout(timeout_s):
        while True:
            frame = await ws.recv()
            if isinstance(frame, str):
                message: dict[str, Any] = json.loads(frame)
                if message["type"] == kind:
                    return message


async def errors_until_closed(
    ws: ClientConnection, timeout_s: float = 10.0
) -> tuple[list[str], Close | None]:
    """The codes of the error frames a client gets before the server closes it, and the
    close frame it got (None: the connection ended without one)."""
    codes: list[str] = []
    async with asyncio.timeout(timeout_s):
        try:
            while True:
                frame = await ws.recv()
                if isinstance(frame, str) and json.loads(frame)["type"] == "error":
                    codes.append(json.loads(frame)["code"])
        except ConnectionClosed as closed:
            return codes, closed.rcvd


async def close_frame(ws: ClientConnection, timeout_s: float = 10.0) -> Close | None:
    """The close frame the server ends ``ws`` with, reading past everything before it."""
    return (await errors_until_closed(ws, timeout_s))[1]


def masked_frame(payload: bytes, *, opcode: int = 0x1, rsv1: bool = False) -> bytes:
    """One final client frame as bytes on the wire, RSV1 (the "compressed" bit of
    permessage-deflate) set if asked: websockets refuses to build one it did not negotiate."""
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 2**16:
        head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + apply_mask(payload, mask)


def stalled_socket(port: int) -> socket.socket:
    """A connected TCP socket like a phone's on a poor link: a small receive window and
    segments of a real network's size. (Loopback's 64 KiB segments let the kernel buffer
    megabytes for a client that does not read before the server's own buffer fills.)"""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1024)
    sock.connect(("127.0.0.1", port))
    return sock


def _memory_kib(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) for key in ("VmHWM", "VmRSS")}


def reset_peak_memory(pid: int) -> int:
    """Start measuring the process's peak resident memory afresh (Linux: clear_refs 5);
    returns the resident memory now, in KiB, to measure growth from."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _memory_kib(pid)["VmRSS"]


def peak_memory_growth_mib(pid: int, since_kib: int) -> float:
    """How far the peak resident memory rose above ``since_kib`` since the reset."""
    return (_memory_kib(pid)["VmHWM"] - since_kib) / 1024
