"""An instance configured for Redis that starts while Redis is down: it starts, says so in
/readyz, serves reads and writes from its database, tells live clients to try again, and
once Redis is up runs live sessions without being restarted. (tests/live/test_redis_hub.py
covers Redis going away under a running instance.) The Redis is a throwaway redis-server
(tests/redis_server.py) that this module starts only halfway through."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from backend.live.protocol import CLOSE_TRY_AGAIN
from tests.faults.harness import graphql, layerless_scene, readiness, until
from tests.live.server import ORGANISER_TOKEN, LiveServer
from tests.live.test_transport import close_code, hello, next_of
from tests.redis_server import RedisServer

SESSION = "test-scene:briefing"  # tests/scenes/sample.py's scheduled session
COMMENT = """mutation Comment($key: String!) {
  createComment(idempotencyKey: $key, input: {
    sceneSlug: "test-scene", location: {lat: 35.2005, lon: 129.2010}, body: "no Redis needed"
  }) { __typename ... on Error { code message } }
}"""
READS = """{
  scene(slug: "test-scene") { __typename ... on Scene { version } }
  pois(filter: {near: {lat: 35.2, lon: 129.2, radiusM: 1000}}) {
    ... on PoiConnection { edges { node { id } } }
  }
}"""


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))  # not started: Redis is down
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory, redis: RedisServer
) -> AsyncIterator[LiveServer]:
    root = tmp_path_factory.mktemp("redis-at-start")
    server = LiveServer(
        root / "app", scenes=[layerless_scene(root / "scenes")], TWINLAND_REDIS_URL=redis.url
    )
    # the organiser starts the session while the hub is down: saved, and answered as such
    async with httpx.AsyncClient(timeout=60) as http:
        started = await graphql(
            http,
            server,
            "mutation($id: ID!) { changeLiveSessionStatus(id: $id, status: LIVE) { __typename "
            "... on LiveSession { status } ... on Error { code message } } }",
            {"id": SESSION},
            {"authorization": f"Bearer {ORGANISER_TOKEN}"},
        )
    assert started["data"]["changeLiveSessionStatus"] == {
        "__typename": "LiveSession",
        "status": "LIVE",
    }, started
    yield server
    server.stop()


async def test_an_instance_started_without_redis_reports_it_and_serves_from_its_database(
    service: LiveServer,
):
    async with httpx.AsyncClient(timeout=60) as http:
        ready = await readiness(http, service)
        reads = await graphql(http, service, READS)
        token = await graphql(http, service, "mutation { issueVisitorToken { token } }")
        visitor = {"x-visitor-token": token["data"]["issueVisitorToken"]["token"]}
        written = await graphql(http, service, COMMENT, {"key": "redis-down-0001"}, visitor)

    assert ready[0] == 200  # degraded, not out of service
    assert ready[1]["status"] == "degraded"
    assert ready[1]["checks"]["database"] == "ok"
    assert ready[1]["checks"]["live_hub"].startswith("unavailable")
    assert reads["data"]["scene"] == {"__typename": "Scene", "version": 1}, reads
    assert len(reads["data"]["pois"]["edges"]) == 2
    assert written["data"]["createComment"]["__typename"] == "Comment", written


async def test_a_live_join_while_redis_is_down_is_told_to_try_again(service: LiveServer):
    ticket = service.ticket(SESSION, "Too early")
    client = await connect(f"{service.ws_base}{ticket['url']}")
    await client.send(json.dumps({"type": "hello", "token": ticket["token"]}))

    assert await close_code(client, timeout_s=20) == CLOSE_TRY_AGAIN


async def test_once_redis_is_up_live_sessions_work_without_restarting_the_instance(
    service: LiveServer, redis: RedisServer
):
    redis.start()
    async with httpx.AsyncClient(timeout=60) as http:

        async def ready() -> dict[str, object] | None:
            status, body = await readiness(http, service)
            return body if status == 200 and body["status"] == "ready" else None

        await until(ready, "ready once Redis is up")
    speaker, welcome = await hello(service, SESSION, "Speaker")
    listener, _ = await hello(service, SESSION, "Listener")
    await speaker.send(json.dumps({"type": "chat", "text": "Redis is up"}))
    heard = await next_of(listener, "chat", timeout_s=10)
    echoed = await next_of(speaker, "chat", timeout_s=10)
    await speaker.close()
    await listener.close()

    assert welcome["session"]["status"] == "live"
    assert (heard["text"], heard["seq"]) == ("Redis is up", echoed["seq"])


def test_the_instance_shuts_down_on_sigterm(service: LiveServer):
    """saq's worker in the service (TWINLAND_JOB_WORKERS=1, the default) once took SIGTERM
    for itself: the service kept running until it was killed."""
    service.process.terminate()

    # uvicorn shuts down, then raises the signal it caught again: the exit status says why
    assert service.process.wait(timeout=60) == -signal.SIGTERM
