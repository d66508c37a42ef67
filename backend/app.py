"""The application factory: everything is built here from settings, nothing at import time."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import HTTPConnection
from strawberry.fastapi import GraphQLRouter

from backend.api.allow_list import allow_list_guard, load_allow_list
from backend.api.context import Context, LiveAccess
from backend.api.cost_limit import cost_limit
from backend.api.schema import build_schema
from backend.api.subscription import MAX_SUBSCRIPTIONS_PER_CONNECTION
from backend.asset_store import LocalAssetStore
from backend.domain.i18n import parse_accept_language
from backend.domain.identity import Principal
from backend.domain.live_session import LiveSession, ModerationRecord
from backend.domain.quotas import Quota
from backend.http import assets, exports, health
from backend.http import uploads as uploads_http
from backend.http.asset_fast_path import AssetFastPath, AssetMemory
from backend.http.auth import bearer_token
from backend.http.graphql_cache import GraphQLResponseCache
from backend.http.guards import RequestGuards
from backend.live.hub import Hub, InProcessHub
from backend.live.protocol import CLOSE_GOING_AWAY
from backend.live.redis_hub import RedisHub
from backend.live.room import RoomConfig
from backend.live.service import LiveService
from backend.live.transport import LiveEndpoint
from backend.observability import Metrics, RequestObserver, configure_logging, log
from backend.publishing.queues import InProcessJobQueue, JobQueue, SaqJobQueue
from backend.publishing.service import PublishService, build_executor
from backend.publishing.uploads import UploadStore
from backend.quota_stores import InProcessQuotaStore, QuotaStore, RedisQuotaStore
from backend.scenes.loader import load_scenes
from backend.services.identity import auth_config, authenticate
from backend.services.visitors import RecentVisitors
from backend.settings import Mode, Settings
from backend.store.change_feed import RedisChangeFeed
from backend.store.changes import TableVersions, track_changes
from backend.store.engine import create_engine, migrate
from backend.store.sql_store import SqlStore

GC_THRESHOLDS = (20_000, 50, 100)


def _session_loader(store: SqlStore) -> Callable[[str], Awaitable[LiveSession | None]]:
    async def load(session_id: str) -> LiveSession | None:
        return (await store.reads.live_sessions_by_id([session_id])).get(session_id)

    return load


def _moderation_saver(store: SqlStore) -> Callable[[ModerationRecord], Awaitable[None]]:
    async def save(record: ModerationRecord) -> None:
        async with store.transaction() as tx:
            await tx.record_live_moderation(record)

    return save


async def _not_started(session_id: str) -> LiveSession | None:
    raise RuntimeError("the store is not open yet")


async def _no_bans(session_id: str) -> set[int]:
    raise RuntimeError("the store is not open yet")


async def _not_saved(record: ModerationRecord) -> None:
    raise RuntimeError("the store is not open yet")


def create_app(settings: Settings, *, scene_paths: Sequence[Path] = ()) -> FastAPI:
    """Build the service. ``scene_paths`` are loaded (all or nothing) after migrating."""
    configure_logging(settings.log_level, settings.log_format)
    asset_store = LocalAssetStore(settings.asset_dir)
    uploads = UploadStore(settings.upload_dir, settings.upload_max_mb * 1024 * 1024)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_database_url)
        await migrate(engine)
        track_changes(engine, table_versions)  # the response cache's invalidation
        change_feed = None
        if settings.redis_url:
            change_feed = RedisChangeFeed(settings.redis_url, table_versions)
            change_feed.start()  # other instances' writes retire this one's answers too
        app.state.change_feed = change_feed
        store = SqlStore(engine)
        app.state.store = store
        live.load_session = _session_loader(store)
        live.load_bans = store.reads.live_bans
        live.save_moderation = _moderation_saver(store)
        publishing = PublishService(
            store,
            asset_store,
            uploads,
            build_executor(
                settings.build_processes, settings.build_memory_mb, settings.build_cpu_s
            ),
            build_cache=settings.resolved_build_cache_dir,
            executor_reset=lambda: build_executor(
                settings.build_processes, settings.build_memory_mb, settings.build_cpu_s
            ),
            lease=timedelta(seconds=settings.job_lease_s),
        )
        app.state.publishing = publishing
        queue: JobQueue = (
            SaqJobQueue(settings.redis_url, settings.job_workers, settings.job_lease_s)
            if settings.redis_url
            else InProcessJobQueue(workers=max(1, settings.job_workers))
        )
        publishing.deliver_with(queue.enqueue)
        await queue.start(publishing.run)
        recovery = asyncio.create_task(publishing.recover_forever())
        if scene_paths:
            report = await load_scenes(
                store, asset_store, list(scene_paths), settings.resolved_build_cache_dir
            )
            log.info("scenes loaded", scenes=report.scenes, pois=report.pois, tours=report.tours)
        # Everything built so far (modules, schema, caches) lives as long as the process.
        # Freezing it keeps the collector from walking it again on every full collection:
        # with a thousand live clients those walks paused the event loop for 50-230 ms.
        gc.collect()
        gc.freeze()
        # Live sessions allocate futures and frames by the ten thousand per second; with the
        # default thresholds (700, 10, 10) they survive into the old generations and force
        # full collections. Younger collections less often let them die by refcount first.
        gc.set_threshold(*GC_THRESHOLDS)
        log.info(
            "ready",
            database=engine.url.render_as_string(hide_password=True),
            frozen_objects=gc.get_freeze_count(),
        )
        try:
            yield
        finally:
            # live clients get "going away": reconnect and resume on another instance
            await live.close(CLOSE_GOING_AWAY, "server shutting down")
            recovery.cancel()
            await queue.close()
            publishing.executor.shutdown(wait=False, cancel_futures=True)
            await quotas.close()
            if change_feed is not None:
                await change_feed.close()
            await store.close()

    app = FastAPI(
        title="twinland",
        summary="Open backend for public digital twins of real places",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # The router needs the service now; the store it reads opens in lifespan, which
    # attaches the real loaders (until then they refuse, rather than answer wrongly).
    hub: Hub = RedisHub(settings.redis_url) if settings.redis_url else InProcessHub()
    live = LiveService(
        hub,
        load_session=_not_started,
        load_bans=_no_bans,
        save_moderation=_not_saved,
        config=RoomConfig(
            tick_hz=settings.live_tick_hz, overflow_capacity=settings.live_overflow_capacity
        ),
    )
    app.state.live = live
    live_access = LiveAccess(
        secret=settings.live_secret,
        token_ttl=timedelta(minutes=settings.live_token_ttl_minutes),
        status_changed=live.status_changed,
        events=live.events,
        poll=live.poll,
    )
    app.state.asset_store = asset_store
    app.state.uploads = uploads
    app.state.clock = lambda: datetime.now(UTC)  # stamp tours' "now"; tests may move it
    app.state.metrics = Metrics()

    auth = auth_config(settings)
    app.state.auth = auth

    async def authenticate_bearer(token: str) -> Principal:
        return await authenticate(app.state.store.identities, auth, token, datetime.now(UTC))

    app.state.authenticate = authenticate_bearer

    async def context_getter(request: HTTPConnection) -> Context:  # HTTP and WebSocket
        base = settings.public_base_url or str(request.base_url).rstrip("/")
        return Context(
            request.app.state.store,
            accept_locale=parse_accept_language(request.headers.get("accept-language")),
            bearer_token=bearer_token(request.headers.get("authorization")),
            authenticate=authenticate_bearer,
            auth=auth,
            asset_base_url=base,
            live=live_access,
            publishing=getattr(request.app.state, "publishing", None),
            visitor_token=request.headers.get("x-visitor-token"),
            visitor_secret=settings.visitor_secret,
            visitor_token_ttl=timedelta(days=settings.visitor_token_ttl_days),
            quotas=quotas,
            clock=request.app.state.clock,
            recent_visitors=recent_visitors,
        )

    quotas: QuotaStore = (
        RedisQuotaStore(settings.redis_url, scale=settings.quota_scale)
        if settings.redis_url
        else InProcessQuotaStore(scale=settings.quota_scale)
    )
    app.state.quotas = quotas
    graphql_cost = Quota(
        "graphql", settings.graphql_cost_burst, settings.graphql_cost_per_s, per_person=False
    )
    guards = [cost_limit(quotas, graphql_cost, settings.graphql_max_cost)]
    recent_visitors = RecentVisitors(settings.visitor_secret)  # whose budget: one memo
    table_versions = TableVersions()
    app.state.table_versions = table_versions
    if settings.graphql_allow_list:
        guards.append(allow_list_guard(load_allow_list(settings.graphql_allow_list)))
    graphql = GraphQLRouter(
        build_schema(introspection=settings.mode is not Mode.PRODUCTION, guards=guards),
        context_getter=context_getter,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        allow_queries_via_get=True,  # cacheable reads; strawberry refuses mutations via GET
        multipart_uploads_enabled=False,
        # named, so a strawberry upgrade cannot change the cap silently (docs/hardening.md)
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
    app.include_router(graphql, prefix="/graphql")
    app.include_router(health.router)
    app.mount("/web", StaticFiles(directory=settings.web_dir, check_dir=False), name="web")

    @app.get("/", include_in_schema=False)
    async def viewer() -> FileResponse:
        """The reference web viewer (web/): ?scene=<slug>&tier=desktop|mobile|vr&lang=ko."""
        return FileResponse(settings.web_dir / "index.html", media_type="text/html")

    app.include_router(assets.router)
    app.include_router(uploads_http.router)
    app.include_router(exports.router)
    app.add_middleware(
        GraphQLResponseCache,
        versions=table_versions,
        quotas=quotas,
        cost_quota=graphql_cost,
        visitors=recent_visitors,
        metrics=app.state.metrics,
        max_age_s=settings.graphql_cache_max_age_s,
        max_bytes=settings.graphql_cache_mb * 1024 * 1024,
    )
    app.add_middleware(RequestObserver, metrics=app.state.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
            allow_headers=["authorization", "content-type", "accept-language", "x-visitor-token"],
            max_age=600,
        )
    app.add_middleware(RequestGuards)
    app.state.asset_memory = AssetMemory(
        asset_store, settings.asset_cache_mb * 1024 * 1024, app.state.metrics
    )
    app.add_middleware(AssetFastPath, memory=app.state.asset_memory)
    # last, so outermost: /live gets uvicorn's own send (see backend/live/transport.py)
    app.add_middleware(
        LiveEndpoint,
        service=live,
        secret=settings.live_secret,
        allowed_origins=settings.live_allowed_origins or settings.cors_origins,
        metrics=app.state.metrics,
    )
    return app
