"""What the GraphQL response cache (backend.http.graphql_cache) needs to learn from the
normal path while it answers: what the SQL read, what the operation cost, and whether any
resolver used the caller's identity (then the answer is private and never kept)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from backend.store.changes import ReadTracker


@dataclass(slots=True)
class CacheProbe:
    """What the normal path learnt while answering a request the cache might keep."""

    reads: ReadTracker = field(default_factory=ReadTracker)
    cost: int | None = None  # set by the cost guard once the operation was allowed
    is_query: bool = False
    caller_specific: bool = False


PROBE: ContextVar[CacheProbe | None] = ContextVar("twinland_cache_probe", default=None)


def mark_caller_specific() -> None:
    """The answer being computed depends on who asks: it must not be kept."""
    probe = PROBE.get()
    if probe is not None:
        probe.caller_specific = True


def record_operation(cost: int, *, is_query: bool) -> None:
    """The cost guard allowed an operation of this cost (the price of a later hit)."""
    probe = PROBE.get()
    if probe is not None:
        probe.cost = cost
        probe.is_query = is_query
