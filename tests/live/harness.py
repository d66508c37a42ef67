"""Drives a LiveRoom without sockets: what each connection would have received."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.live.outputs import (
    Broadcast,
    Close,
    Output,
    Publish,
    Record,
    Send,
    ShareState,
)
from backend.live.protocol import Hello, decode_tick
from backend.live.room import LiveRoom, RoomConfig
from backend.live.tokens import JoinClaims, Role


class RoomHarness:
    """A room plus a loop-back hub: Publish outputs are applied in order, as one instance."""

    def __init__(
        self,
        *,
        capacity: int = 10,
        config: RoomConfig | None = None,
        status: str = "live",
        instance: str = "local",
    ) -> None:
        self.room = LiveRoom(
            "scene:talk", status=status, capacity=capacity, epoch="e1", config=config
        )
        self.inbox: dict[int, list[str | bytes]] = defaultdict(list)
        self.closed: dict[int, tuple[int, str]] = {}
        self.records: list[dict[str, Any]] = []
        self.shared: list[bytes] = []
        self.now_s = 1_000.0
        self._next_conn = 1

    def run(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Send):
                self.inbox[output.conn].append(output.data)
            elif isinstance(output, Broadcast):
                targets = self.room.by_conn if output.only is None else output.only
                for conn in list(targets):
                    self.inbox[conn].append(output.data)
            elif isinstance(output, Close):
                self.closed[output.conn] = (output.code, output.reason)
                self.run(self.room.disconnect(output.conn))
            elif isinstance(output, Publish):
                self.run(self.room.apply(output.event))
            elif isinstance(output, Record):
                self.records.append(output.entry)
            elif isinstance(output, ShareState):
                self.shared.append(output.state)

    def join(
        self,
        name: str = "visitor",
        role: Role = Role.ATTENDEE,
        *,
        member_id: int | None = None,
        resume: tuple[str, int] | None = None,
    ) -> int:
        conn = self._next_conn
        self._next_conn += 1
        claims = JoinClaims(
            "scene:talk",
            member_id if member_id is not None else 100 + conn,
            name,
            role,
            datetime.now(UTC) + timedelta(hours=1),
        )
        hello = Hello("t", name, resume[0] if resume else None, resume[1] if resume else None)
        self.run(self.room.connect(conn, claims, hello, self.now_s))
        return conn

    def send(self, conn: int, **message: Any) -> None:
        self.run(self.room.receive_text(conn, json.dumps(message), self.now_s))

    def send_raw(self, conn: int, text: str) -> None:
        self.run(self.room.receive_text(conn, text, self.now_s))

    def send_binary(self, conn: int, data: bytes) -> None:
        self.run(self.room.receive_binary(conn, data, self.now_s))

    def leave(self, conn: int) -> None:
        self.run(self.room.disconnect(conn))

    def tick(self) -> None:
        self.run(self.room.tick())

    def frames(self, conn: int, kind: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(f) for f in self.inbox[conn] if isinstance(f, str)]
        return [f for f in found if kind is None or f["type"] == kind]

    def ticks(self, conn: int) -> list[Any]:
        return [decode_tick(f) for f in self.inbox[conn] if isinstance(f, bytes)]

    def member_id(self, conn: int) -> int:
        return self.room.by_conn[conn].id
