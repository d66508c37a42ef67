"""Structured logs (structlog) and Prometheus metrics, configured once per process."""

from __future__ import annotations

import logging
import time
import uuid

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.settings import LogFormat

log = structlog.get_logger("twinland")


def configure_logging(level: str, fmt: LogFormat) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt is LogFormat.JSON
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        cache_logger_on_first_use=False,
    )


class Metrics:
    """Per-app registry, so several apps in one process (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "twinland_http_requests_total",
            "HTTP requests by route template, method and status class.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "twinland_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.graphql_cache = Counter(
            "twinland_graphql_cache_total",
            "GraphQL requests by what the response cache did: hit (answered from it), miss "
            "(answered normally, kept if public) or bypass (signed-in, or known to be private).",
            ["result"],
            registry=self.registry,
        )
        self.live_connections = Gauge(
            "twinland_live_connections",
            "Open live-session connections by send path: direct (frames written straight "
            "to the socket) or asgi (the slower fallback; see backend/live/direct.py).",
            ["path"],
            registry=self.registry,
        )


class RequestObserver:
    """ASGI middleware: a request id on every log line and response, latency and status
    metrics. Plain ASGI rather than Starlette's BaseHTTPMiddleware, which runs every
    request through an extra task and stream (a fifth of a cached read's cost)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")[:64]
        request_id = given.decode("latin-1") if given else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    *(h for h in message.get("headers", []) if h[0] != b"x-request-id"),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or scope.get(ROUTE_TEMPLATE, "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(template, method, f"{status // 100}xx").inc()
            self.metrics.latency.labels(template, method).observe(elapsed)
            log.info(
                "request",
                method=method,
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


# Set in the scope by middleware that answers without reaching a route (the GraphQL
# response cache), so the metrics still name the route.
ROUTE_TEMPLATE = "twinland.route_template"


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""
