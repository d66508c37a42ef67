"""Hubs put every instance's live events into one order and deliver them to all.

Two channels per session:
  * reliable events (``publish``/``subscribe``): one total order shared by every
    instance; a new subscriber first receives the whole current history, so a room that
    starts late rebuilds the same state and the same ``seq`` as the others. An
    ``{"kind": "epoch"}`` event tells subscribers that the history was lost (a Redis
    restart) and numbering starts again.
  * lossy state (``publish_state``/``subscribe_state``): each instance's latest avatar
    poses, guide camera and reaction counts, a few times a second; losing one is harmless.

``InProcessHub`` is the embedded default (one process). ``backend.live.redis_hub`` is the
distributed one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Literal, Protocol

Deliver = Callable[[dict[str, Any]], None]
# An admission's verdict: a seat ("avatar"/"spectator"), "full", or "local" when the hub
# leaves it to the room (one instance: the room's own count is already atomic).
Verdict = Literal["avatar", "spectator", "full", "local"]
DeliverState = Callable[[str, bytes], None]  # (instance id, state)
Unsubscribe = Callable[[], None]


class HubUnavailable(Exception):
    """The hub cannot take events right now (e.g. Redis is down); nothing was published."""


class Hub(Protocol):
    instance_id: str

    async def epoch(self, session_id: str) -> str:
        """The session's current epoch: it changes when the event history is lost."""
        ...

    async def publish(self, session_id: str, event: dict[str, Any]) -> None:
        """Order ``event`` among all instances' events; HubUnavailable if it cannot."""
        ...

    async def subscribe(self, session_id: str, deliver: Deliver) -> Unsubscribe:
        """Deliver the session's history, then every new event, in order. Returns once
        the history has been delivered."""
        ...

    async def admit(
        self, session_id: str, member_id: int, *, staff: bool, capacity: int, overflow: int
    ) -> Verdict:
        """Take a seat for the member across every instance, atomically; a member already
        seated (reconnecting, on any instance) keeps its seat."""
        ...

    async def release(self, session_id: str, member_id: int) -> None: ...

    async def publish_state(self, session_id: str, state: bytes) -> None: ...

    async def subscribe_state(self, session_id: str, deliver: DeliverState) -> Unsubscribe:
        """Other instances' state messages (never this instance's own)."""
        ...

    async def close(self) -> None: ...


class InProcessHub:
    """One process: events are delivered in the order they are published."""

    def __init__(self) -> None:
        self.instance_id = secrets.token_hex(4)
        self._subscribers: dict[str, list[Deliver]] = {}
        self._epochs: dict[str, str] = {}

    async def epoch(self, session_id: str) -> str:
        return self._epochs.setdefault(session_id, secrets.token_hex(8))

    async def publish(self, session_id: str, event: dict[str, Any]) -> None:
        for deliver in list(self._subscribers.get(session_id, ())):
            deliver(event)

    async def subscribe(self, session_id: str, deliver: Deliver) -> Unsubscribe:
        # one room per session per process: it has seen every event, no history to replay
        self._subscribers.setdefault(session_id, []).append(deliver)

        def unsubscribe() -> None:
            subscribers = self._subscribers.get(session_id, [])
            if deliver in subscribers:
                subscribers.remove(deliver)

        return unsubscribe

    async def admit(
        self, session_id: str, member_id: int, *, staff: bool, capacity: int, overflow: int
    ) -> Verdict:
        return "local"

    async def release(self, session_id: str, member_id: int) -> None:
        return None

    async def publish_state(self, session_id: str, state: bytes) -> None:
        return None  # no other instance to tell

    async def subscribe_state(self, session_id: str, deliver: DeliverState) -> Unsubscribe:
        return lambda: None

    async def close(self) -> None:
        self._subscribers.clear()
