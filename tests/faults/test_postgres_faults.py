"""PostgreSQL going away under a real ``twinland serve``: requests fail at once with a
masked error (never a hang or a traceback), /readyz says the database is down, and when
it is back the pool serves again without restarting the service. The server is a private
cluster (tests/postgres_server.py): the shared one on 5432 is in use by other tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.faults.harness import (
    ORGANISER,
    graphql,
    internal_error,
    layerless_scene,
    readiness,
    until,
)
from tests.live.server import LiveServer
from tests.postgres_server import PostgresServer

# Both touch the database on every request: a mutation is never answered from a cache,
# and an organiser's read is not shared.
COMMENT = """mutation Comment($key: String!, $body: String!) {
  createComment(idempotencyKey: $key, input: {
    sceneSlug: "test-scene", location: {lat: 35.2005, lon: 129.2010}, body: $body
  }) { __typename ... on Comment { id } ... on Error { code message } }
}"""
COMMENTS = '{ comments(sceneSlug: "test-scene", first: 100) { id body } }'
TOKEN = "mutation { issueVisitorToken { token } }"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("postgres-faults")
    server = LiveServer(
        root / "app",
        scenes=[layerless_scene(root / "scenes")],
        TWINLAND_DATABASE_URL=postgres.url,
    )
    yield server
    server.stop()


async def test_a_postgres_restart_fails_requests_cleanly_and_the_pool_recovers(
    postgres: PostgresServer, service: LiveServer
):
    async with httpx.AsyncClient(timeout=120) as http:
        token = (await graphql(http, service, TOKEN))["data"]["issueVisitorToken"]["token"]
        visitor = {"x-visitor-token": token}

        async def comment(key: str) -> dict[str, Any]:
            variables = {"key": key.replace(" ", "-"), "body": key}
            return await graphql(http, service, COMMENT, variables, visitor)

        async def read() -> dict[str, Any]:
            return await graphql(http, service, COMMENTS, headers=ORGANISER)

        # concurrent reads fill the pool; a restart with no request in between leaves every
        # pooled connection dead for the requests after it to find
        warm = await asyncio.gather(*(read() for _ in range(12)))
        before = await comment("before the restart")
        postgres.stop()
        postgres.start()
        reads_back = await asyncio.gather(*(read() for _ in range(12)))
        after = await comment("after the restart")

        postgres.stop()
        read_down = await read()
        write_down = await comment("while the database is down")
        ready_down = await readiness(http, service)
        postgres.start()
        listed = await read()
        ready_back = await readiness(http, service)

    assert all("errors" not in body for body in warm)
    assert before["data"]["createComment"]["__typename"] == "Comment"
    # the pool recovered on its own: the first requests after the restart all succeed
    assert all("errors" not in body for body in reads_back), reads_back
    assert after["data"]["createComment"]["__typename"] == "Comment", after
    assert internal_error(read_down), read_down
    assert internal_error(write_down), write_down
    assert ready_down[0] == 503
    assert ready_down[1]["status"] == "not ready"
    assert ready_down[1]["checks"]["database"].startswith("unavailable")
    assert [c["body"] for c in listed["data"]["comments"]] == [
        "before the restart",
        "after the restart",
    ]
    assert ready_back == (200, {"status": "ready", "checks": {"database": "ok"}})
    assert service.process.poll() is None


async def test_a_stalled_postgres_makes_readiness_say_so_instead_of_hanging(
    postgres: PostgresServer, service: LiveServer
):
    """Requests meanwhile fail after the driver's connect or statement timeout
    (backend/store/engine.py: up to a minute, too long to wait for here)."""
    async with httpx.AsyncClient(timeout=120) as http:
        warm = await graphql(http, service, COMMENTS, headers=ORGANISER)
        postgres.pause()  # the sockets stay open, nothing answers
        try:
            ready_stalled = await readiness(http, service)
        finally:
            postgres.resume()

        async def ready() -> bool:
            return (await readiness(http, service))[0] == 200

        await until(ready, "ready again after the stall")
        after = await graphql(http, service, COMMENTS, headers=ORGANISER)

    assert "errors" not in warm
    assert ready_stalled[0] == 503
    assert ready_stalled[1] == {
        "status": "not ready",
        "checks": {"database": "unavailable: TimeoutError"},
    }
    assert "errors" not in after
