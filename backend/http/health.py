"""Liveness, readiness and Prometheus metrics endpoints."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backend.live.redis_hub import RedisHub
from backend.observability import log
from backend.store.engine import schema_is_current

router = APIRouter()
# A dependency that does not answer within this is down as far as readiness goes: a
# stalled database must make /readyz say so, not hang the probe.
CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is up and serving; says nothing about its dependencies."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: the database answers and its schema is at the newest migration.
    "degraded" (still 200): the live hub (Redis) is down, everything else works."""
    checks: dict[str, str] = {}
    try:
        async with (
            asyncio.timeout(CHECK_TIMEOUT_S),
            request.app.state.store.engine.connect() as connection,
        ):
            checks["database"] = "ok" if await schema_is_current(connection) else "schema behind"
    except Exception as error:  # any failure means "not ready", reported, never raised
        log.warning("readiness check failed", error=str(error))
        checks["database"] = f"unavailable: {type(error).__name__}"
    hub = request.app.state.live.hub
    if isinstance(hub, RedisHub):
        # reported, but not a reason to take reads out of service: live sessions degrade
        # (they say so to their clients) while every other request still works
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await hub.ping()
            checks["live_hub"] = "ok"
        except Exception as error:
            checks["live_hub"] = f"unavailable: {type(error).__name__}"
    ready = checks["database"] == "ok"
    status = (
        "not ready"
        if not ready
        else "ready"
        if all(v == "ok" for v in checks.values())
        else "degraded"
    )
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> PlainTextResponse:
    body = generate_latest(request.app.state.metrics.registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)
