"""What the live-session core asks its adapters to do: the outputs of ``LiveRoom``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ConnId = int


@dataclass(frozen=True, slots=True)
class Send:
    conn: ConnId
    data: str | bytes


@dataclass(frozen=True, slots=True)
class Broadcast:
    """To every local connection (``only`` narrows it to some)."""

    data: str | bytes
    only: frozenset[ConnId] | None = None


@dataclass(frozen=True, slots=True)
class Close:
    conn: ConnId
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Publish:
    """An event for the hub to order among every instance's and return to ``apply``."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Record:
    """A privileged action for the persistent audit log (and ban list)."""

    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ShareState:
    """This instance's lossy state (poses, camera, reactions) for the other instances."""

    state: bytes


Output = Send | Broadcast | Close | Publish | Record | ShareState
