"""The application factory: everything is built here from settings, nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.base import BaseHTTPMiddleware
from strawberry.fastapi import GraphQLRouter

from backend.api.context import Context
from backend.api.schema import build_schema
from backend.asset_store import LocalAssetStore
from backend.domain.i18n import parse_accept_language
from backend.http import assets, health
from backend.observability import Metrics, configure_logging, log, request_observer
from backend.scenes.loader import load_scenes
from backend.settings import Settings
from backend.store.engine import create_engine, migrate
from backend.store.sql_store import SqlStore


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def create_app(settings: Settings, *, scene_paths: Sequence[Path] = ()) -> FastAPI:
    """Build the service. ``scene_paths`` are loaded (all or nothing) after migrating."""
    configure_logging(settings.log_level, settings.log_format)
    asset_store = LocalAssetStore(settings.asset_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_database_url)
        await migrate(engine)
        store = SqlStore(engine)
        app.state.store = store
        if scene_paths:
            report = await load_scenes(store, asset_store, list(scene_paths))
            log.info("scenes loaded", scenes=report.scenes, pois=report.pois, tours=report.tours)
        log.info("ready", database=engine.url.render_as_string(hide_password=True))
        try:
            yield
        finally:
            await store.close()

    app = FastAPI(
        title="twinland",
        summary="Open backend for public digital twins of real places",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.asset_store = asset_store
    app.state.metrics = Metrics()

    async def context_getter(request: Request) -> Context:
        base = settings.public_base_url or str(request.base_url).rstrip("/")
        return Context(
            request.app.state.store,
            accept_locale=parse_accept_language(request.headers.get("accept-language")),
            bearer_token=_bearer(request),
            admin_token=settings.admin_token,
            asset_base_url=base,
        )

    graphql = GraphQLRouter(
        build_schema(),
        context_getter=context_getter,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        allow_queries_via_get=True,  # cacheable reads; strawberry refuses mutations via GET
        multipart_uploads_enabled=False,
    )
    app.include_router(graphql, prefix="/graphql")
    app.include_router(health.router)
    app.include_router(assets.router)
    app.add_middleware(BaseHTTPMiddleware, dispatch=request_observer(app.state.metrics))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
            allow_headers=["authorization", "content-type", "accept-language"],
            max_age=600,
        )
    return app
