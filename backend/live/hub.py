"""Hubs put every instance's live events into one order and deliver them to all.

``InProcessHub`` is the embedded default: one process, events delivered in the order they
were published, epoch fixed for the life of the process. A Redis hub (Streams for reliable
events, pub/sub for lossy state) implements the same port for several instances.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Protocol

Deliver = Callable[[dict[str, Any]], None]
Unsubscribe = Callable[[], None]


class Hub(Protocol):
    async def epoch(self, session_id: str) -> str:
        """The session's current epoch: it changes when the event history is lost."""
        ...

    async def publish(self, session_id: str, event: dict[str, Any]) -> None:
        """Order ``event`` among all instances' events and deliver it to every subscriber."""
        ...

    def subscribe(self, session_id: str, deliver: Deliver) -> Unsubscribe: ...


class InProcessHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Deliver]] = {}
        self._epochs: dict[str, str] = {}

    async def epoch(self, session_id: str) -> str:
        return self._epochs.setdefault(session_id, secrets.token_hex(8))

    async def publish(self, session_id: str, event: dict[str, Any]) -> None:
        for deliver in list(self._subscribers.get(session_id, ())):
            deliver(event)

    def subscribe(self, session_id: str, deliver: Deliver) -> Unsubscribe:
        self._subscribers.setdefault(session_id, []).append(deliver)

        def unsubscribe() -> None:
            subscribers = self._subscribers.get(session_id, [])
            if deliver in subscribers:
                subscribers.remove(deliver)

        return unsubscribe
