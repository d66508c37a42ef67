"""A running app per backend with the demo scenes loaded, and GraphQL helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from backend.app import create_app
from backend.settings import Settings
from tests.conftest import BACKENDS, DEMO_SCENES, PostgresDatabases, sqlite_url

ORGANISER_TOKEN = "organiser-secret-for-tests-0123456789"


@dataclass
class Api:
    app: FastAPI
    http: httpx.AsyncClient
    backend: str

    async def query(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST a GraphQL document; the whole response body (data and errors)."""
        all_headers = dict(headers or {})
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql",
            json={"query": document, "variables": variables or {}},
            headers=all_headers,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, document: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        body = await self.query(document, variables, **kwargs)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result


@pytest.fixture(scope="session", params=BACKENDS)
async def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> AsyncIterator[Api]:
    """The service on each backend, demo scenes loaded once per test session."""
    data_dir: Path = tmp_path_factory.mktemp(f"api-{request.param}")
    url = sqlite_url(data_dir) if request.param == "sqlite" else await postgres_databases.create()
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        admin_token=ORGANISER_TOKEN,
        log_level="warning",
        # one client runs the whole suite against this app, faster than any person: its
        # budget must not run out (throttling is tested on apps of its own)
        graphql_cost_burst=10**9,
        graphql_cost_per_s=10**9,
        quota_scale=1_000,  # visitor tokens are minted from one address all suite long
    )
    app = create_app(settings, scene_paths=[DEMO_SCENES])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://twinland.test") as http:
            yield Api(app, http, request.param)


@pytest.fixture
def statement_counter(api: Api) -> Any:
    """Counts SQL statements the app runs, to prove DataLoaders batch (no N+1)."""

    class Counter:
        count = 0

        def __call__(self, *args: Any) -> None:
            self.count += 1

    counter = Counter()
    engine = api.app.state.store.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", counter)
    yield counter
    sa.event.remove(engine, "before_cursor_execute", counter)
