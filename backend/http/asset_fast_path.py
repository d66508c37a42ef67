"""The hot path for ``/assets``: whole-file GETs and HEADs answered from memory.

Content-addressed files never change, so once read they can be kept and sent again and
again without touching the disk, the router or any middleware: this ASGI endpoint sits
outermost (``create_app``) and answers plain requests — with encoding negotiation,
``If-None-Match`` and every header of ``backend.http.assets`` — from an LRU cache bounded
in bytes. Anything else (ranges, preflights, unknown names) goes on to the ordinary route in
``backend.http.assets``. Requests answered here bypass the request-id and latency
middleware; they are counted in ``twinland_http_requests_total`` all the same.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.asset_store import COMPRESSIBLE, ENCODINGS, MEDIA_TYPES, LocalAssetStore
from backend.http.assets import CORS, IMMUTABLE, accepted_encodings
from backend.observability import Metrics

PREFIX = "/assets/"
PREFIX_BYTES = PREFIX.encode()
READ_IN_THREAD_BYTES = 256 * 1024  # bigger first reads leave the event loop alone
MAX_KNOWN_NAMES = 100_000
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class _Entry:
    body: bytes
    headers: Headers  # for 200, content-length included
    not_modified: Headers  # for 304
    etag: bytes
    # the same headers as HTTP/1.1 header lines, for the protocol-level path
    head_200: bytes
    head_304: bytes


@lru_cache(maxsize=256)
def _negotiated(accept_encoding: bytes) -> tuple[str, ...]:
    return tuple(accepted_encodings(accept_encoding.decode("latin-1")))


class AssetFastPath:
    """ASGI middleware: plain GET/HEADs of assets answered from ``memory``."""

    def __init__(self, app: ASGIApp, *, memory: AssetMemory) -> None:
        self.app = app
        self.memory = memory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        accept_encoding = if_none_match = b""
        for key, value in scope["headers"]:
            if key == b"range" or key == b"if-range":
                await self.app(scope, receive, send)  # the route does ranges
                return
            if key == b"accept-encoding":
                accept_encoding = value
            elif key == b"if-none-match":
                if_none_match = value
        name = scope["path"][len(PREFIX) :]
        entry = await self.memory.entry(name, accept_encoding)
        if entry is None:
            await self.app(scope, receive, send)  # unknown or unsafe names: the route's 404
            return
        requests = self.memory.metrics.requests
        if if_none_match and _matches(if_none_match, entry.etag):
            await send(
                {"type": "http.response.start", "status": 304, "headers": entry.not_modified}
            )
            await send({"type": "http.response.body", "body": b""})
            requests.labels("/assets/{name}", scope["method"], "3xx").inc()
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        body = entry.body if scope["method"] == "GET" else b""
        await send({"type": "http.response.body", "body": body})
        requests.labels("/assets/{name}", scope["method"], "2xx").inc()


class AssetMemory:
    """Asset files kept in memory (an LRU bounded in bytes) with their response headers;
    shared by the ASGI middleware and the protocol-level path."""

    def __init__(self, store: LocalAssetStore, cache_bytes: int, metrics: Metrics) -> None:
        self.store = store
        self.cache_bytes = cache_bytes
        self.metrics = metrics
        self._cache: OrderedDict[tuple[str, str | None], _Entry] = OrderedDict()
        self._cached_bytes = 0
        self._variants: OrderedDict[str, frozenset[str | None]] = OrderedDict()
        self._counters: dict[tuple[bytes, str], Any] = {}

    def cached(
        self, method: bytes, url: bytes, headers: Headers
    ) -> tuple[int, bytes, bytes] | None:
        """For the protocol-level path (backend.http.asset_protocol): (status, header
        lines, body) of a plain GET/HEAD of a file already in memory; None for anything
        else (which then takes the ASGI way above). Synchronous: no disk, no await."""
        if b"?" in url or b"%" in url or not url.startswith(PREFIX_BYTES):
            return None
        accept_encoding = if_none_match = b""
        for key, value in headers:
            if key == b"range" or key == b"if-range":
                return None
            if key == b"accept-encoding":
                accept_encoding = value
            elif key == b"if-none-match":
                if_none_match = value
        name = url[len(PREFIX_BYTES) :].decode("latin-1")
        available = self._variants.get(name)
        if available is None:
            return None
        entry = self._cache.get((name, self._choose(name, available, accept_encoding)))
        if entry is None:
            return None
        if if_none_match and _matches(if_none_match, entry.etag):
            self._count(method, "3xx")
            return 304, entry.head_304, b""
        self._count(method, "2xx")
        return 200, entry.head_200, entry.body if method == b"GET" else b""

    def _count(self, method: bytes, status_class: str) -> None:
        # the labelled counter, looked up once (labels() takes a lock and builds a key)
        child = self._counters.get((method, status_class))
        if child is None:
            child = self.metrics.requests.labels("/assets/{name}", method.decode(), status_class)
            self._counters[(method, status_class)] = child
        child.inc()

    @staticmethod
    def _choose(name: str, available: frozenset[str | None], accept_encoding: bytes) -> str | None:
        """The representation to send: the client's most preferred one that exists."""
        if name.rsplit(".", 1)[-1] not in COMPRESSIBLE:
            return None
        for coding in _negotiated(accept_encoding):
            if coding == "identity":
                return None
            if coding in available:
                return coding
        return None

    def _encodings(self, name: str) -> frozenset[str | None] | None:
        """Which representations of ``name`` exist (None: identity), None for no file.
        Remembered, so a hot file costs no stat() per request."""
        known = self._variants.get(name)
        if known is not None:
            return known
        if self.store.path_for(name) is None:
            return None
        known = frozenset(
            [None, *(c for c in ENCODINGS if self.store.path_for(name, c) is not None)]
        )
        self._variants[name] = known
        if len(self._variants) > MAX_KNOWN_NAMES:
            self._variants.popitem(last=False)
        return known

    async def entry(self, name: str, accept_encoding: bytes) -> _Entry | None:
        """The file's response for this Accept-Encoding (read into memory if need be);
        None for names that are not in the store."""
        available = self._encodings(name)
        if available is None:
            return None
        ext = name.rsplit(".", 1)[1]
        encoding = self._choose(name, available, accept_encoding)
        key = (name, encoding)
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            return entry
        source = self.store.path_for(name, encoding)
        if source is None:  # deleted behind our back: forget it
            self._variants.pop(name, None)
            return None
        size = source.stat().st_size
        body = (
            await anyio.to_thread.run_sync(source.read_bytes)
            if size > READ_IN_THREAD_BYTES
            else source.read_bytes()
        )
        entry = _build(name, ext, encoding, body)
        if len(body) <= self.cache_bytes:
            self._cache[key] = entry
            self._cached_bytes += len(body)
            while self._cached_bytes > self.cache_bytes:
                _, evicted = self._cache.popitem(last=False)
                self._cached_bytes -= len(evicted.body)
        return entry


def _build(name: str, ext: str, encoding: str | None, body: bytes) -> _Entry:
    sha = name.split(".", 1)[0]
    etag = (f'"{sha}-{encoding}"' if encoding else f'"{sha}"').encode()
    common: Headers = [
        (b"etag", etag),
        (b"cache-control", IMMUTABLE.encode()),
        (b"x-content-type-options", b"nosniff"),
        *((k.lower().encode(), v.encode()) for k, v in CORS.items()),
    ]
    if ext in COMPRESSIBLE:
        common.append((b"vary", b"Accept-Encoding"))
    if encoding:
        common.append((b"content-encoding", encoding.encode()))
    headers = [
        (b"content-type", MEDIA_TYPES[ext].encode()),
        (b"content-length", str(len(body)).encode()),
        (b"accept-ranges", b"bytes"),
        *common,
    ]
    return _Entry(body, headers, common, etag, _lines(headers), _lines(common))


def _lines(headers: Headers) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def _matches(header: bytes, etag: bytes) -> bool:
    tags = [tag.strip().removeprefix(b"W/") for tag in header.split(b",")]
    return b"*" in tags or etag in tags
