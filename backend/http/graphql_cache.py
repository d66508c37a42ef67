"""A response cache for public GraphQL reads.

Most of a public twin's traffic is the same few reads from thousands of visitors: the
scene, its POIs and tours, a page of comments. Their answers do not depend on who asks,
so the first answer is kept and the next identical request gets its bytes without any
GraphQL work. It is Apollo Server's full-response cache in spirit, with two differences:

- **No hints to maintain.** An answer is kept only while every table its SQL read is
  unchanged (backend.store.changes tracks reads and committed writes), so a new comment
  retires exactly the answers that read comments, the moment it commits.
- **Private answers are never kept.** A resolver that uses the caller's identity (a
  visitor's own stamps or votes) marks the request ``caller_specific``; requests with an
  Authorization header are never looked up or kept at all; mutations, answers with
  errors and SQL the tracker cannot see into are never kept.

Answers are keyed by the exact request: method, body (or query string), content type,
Accept-Language and Host (asset URLs carry the host). Every answer, hit or not, is still
paid for from the client's cost budget (backend.api.cost_limit); a hit that the budget
refuses goes down the normal path, which refuses it with the usual ``THROTTLED`` error.
``max_age_s`` bounds how stale an answer can be when another instance's write did not
reach this one (Redis down) or data changes outside SQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.cache_probe import PROBE, CacheProbe
from backend.domain.quotas import Quota
from backend.http.guards import replaying
from backend.observability import ROUTE_TEMPLATE, Metrics
from backend.quota_stores import QuotaStore
from backend.services.visitors import RecentVisitors
from backend.store.changes import READ_TRACKER, TableVersions

GRAPHQL_PATH = "/graphql"
MAX_PRIVATE_KEYS = 50_000  # requests remembered as private (32-byte digests each)


@dataclass(slots=True, frozen=True)
class CachedAnswer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    cost: int
    dependencies: tuple[tuple[str, int], ...]
    stored_at_s: float


CacheKey = bytes  # SHA-256 of the request's method, body or query and varying headers


class GraphQLResponseCache:
    """ASGI middleware in front of the GraphQL route (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        versions: TableVersions,
        quotas: QuotaStore,
        cost_quota: Quota,
        visitors: RecentVisitors,
        metrics: Metrics,
        max_age_s: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.versions = versions
        self.quotas = quotas
        self.cost_quota = cost_quota
        self.visitors = visitors
        self.metrics = metrics
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._bytes = 0  # bodies of the answers kept
        self.clock = clock
        self._answers: OrderedDict[CacheKey, CachedAnswer] = OrderedDict()
        self._in_flight: dict[CacheKey, asyncio.Future[CachedAnswer | None]] = {}
        self._private: OrderedDict[CacheKey, None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.max_age_s <= 0
            or scope["type"] != "http"
            or scope["path"] != GRAPHQL_PATH
            or scope["method"] not in ("GET", "POST")
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if b"authorization" in headers:  # a signed-in caller may see more: never shared
            self._count("bypass")
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive) if scope["method"] == "POST" else (b"", True)
        replay = replaying(body, receive)
        if not complete:
            await self.app(scope, replay, send)
            return
        # a digest of the request, not the request: keys stay small however large the
        # documents (a flood of padded unique ones must not fill memory through the keys)
        request = hashlib.sha256(scope["method"].encode())
        for part in (
            scope["query_string"],
            body,
            headers.get(b"content-type", b""),
            headers.get(b"accept-language", b""),
            headers.get(b"host", b""),
        ):
            request.update(len(part).to_bytes(4, "big"))
            request.update(part)
        key: CacheKey = request.digest()
        if key in self._private:
            self._count("bypass")
            await self.app(scope, replay, send)
            return
        answer = self._fresh(key)
        if answer is None and (flight := self._in_flight.get(key)) is not None:
            # the same request is being answered right now: wait for it rather than
            # compute it again (a crowd asking at once costs one execution, not hundreds)
            answer = await asyncio.shield(flight)
        if answer is not None and await self._paid(answer.cost, scope, headers):
            self._count("hit")
            scope[ROUTE_TEMPLATE] = GRAPHQL_PATH
            await _send_answer(send, answer)
            return
        self._count("miss")
        flight = asyncio.get_running_loop().create_future()
        self._in_flight.setdefault(key, flight)
        kept: CachedAnswer | None = None
        try:
            kept = await self._answer_and_keep(key, scope, replay, send)
        finally:
            if self._in_flight.get(key) is flight:
                del self._in_flight[key]
            flight.set_result(kept)  # waiters without an answer go down the normal path

    def _fresh(self, key: CacheKey) -> CachedAnswer | None:
        answer = self._answers.get(key)
        if answer is None:
            return None
        if self.clock() - answer.stored_at_s > self.max_age_s or not self.versions.current(
            answer.dependencies
        ):
            self._forget(key)
            return None
        self._answers.move_to_end(key)
        return answer

    async def _paid(self, cost: int, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        decision = await self.quotas.take(self.cost_quota, self._client_key(scope, headers), cost)
        return decision.allowed

    def _client_key(self, scope: Scope, headers: dict[bytes, bytes]) -> str:
        """Context.client_key for a caller without a bearer token (the same budget)."""
        token = headers.get(b"x-visitor-token")
        client = scope.get("client")
        return self.visitors.client_key(
            token.decode("latin-1") if token else None, client[0] if client else None
        )

    async def _answer_and_keep(
        self, key: CacheKey, scope: Scope, receive: Receive, send: Send
    ) -> CachedAnswer | None:
        """Answer down the normal path; the answer, kept, if it may be shared."""
        probe = CacheProbe()
        status = 0
        response_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        probe_token = PROBE.set(probe)
        reads_token = READ_TRACKER.set(probe.reads)
        try:
            await self.app(scope, receive, capture)
        finally:
            READ_TRACKER.reset(reads_token)
            PROBE.reset(probe_token)
        body = b"".join(chunks)
        if status != 200 or b'"errors":' in body:  # a quote inside a string is escaped
            return None  # errors are never kept (a throttled client must not be remembered)
        if probe.cost is None:
            return None  # the operation did not reach execution
        if not probe.is_query or probe.caller_specific or probe.reads.refused is not None:
            self._remember_private(key)
            return None
        dependencies = tuple(probe.reads.dependencies.items())
        answer = CachedAnswer(
            status, tuple(response_headers), body, probe.cost, dependencies, self.clock()
        )
        self._keep(key, answer)
        return answer

    def _remember_private(self, key: CacheKey) -> None:
        """The same request will be private again (a mutation, a visitor's own data): go
        straight down the normal path next time."""
        self._private[key] = None
        if len(self._private) > MAX_PRIVATE_KEYS:
            self._private.popitem(last=False)

    def _keep(self, key: CacheKey, answer: CachedAnswer) -> None:
        if len(answer.body) > self.max_bytes // 10:
            return  # one answer may not push out a tenth of everything
        self._forget(key)
        self._answers[key] = answer
        self._bytes += len(answer.body)
        while self._bytes > self.max_bytes:
            self._forget(next(iter(self._answers)))  # the least recently used

    def _forget(self, key: CacheKey) -> None:
        answer = self._answers.pop(key, None)
        if answer is not None:
            self._bytes -= len(answer.body)

    def _count(self, result: str) -> None:
        self.metrics.graphql_cache.labels(result).inc()


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (RequestGuards has already capped it); False if the client left."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


async def _send_answer(send: Send, answer: CachedAnswer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})
