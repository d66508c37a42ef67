"""Two app instances sharing the real Redis (and PostgreSQL), and a Redis restart.

The shared Redis is the one on 127.0.0.1:6379 (scripts/test starts it when it is down);
the restart test runs its own redis-server on a free port so it can stop and start it.
Both fail, never skip, when Redis is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from backend.live.protocol import (
    CLOSE_BANNED,
    CLOSE_TRY_AGAIN,
    FRAME_POSE,
    Pose,
    decode_tick,
    encode_client_frame,
)
from tests.conftest import PostgresDatabases
from tests.live.server import LiveServer, new_live_session
from tests.live.test_transport import close_code, drop_and_resume, hello, next_of
from tests.redis_server import RedisServer

SHARED_REDIS = os.environ.get("TWINLAND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
async def instances(
    tmp_path_factory: pytest.TempPathFactory, postgres_databases: PostgresDatabases
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    database = await postgres_databases.create()
    env = {"TWINLAND_DATABASE_URL": database, "TWINLAND_REDIS_URL": SHARED_REDIS}
    a = LiveServer(tmp_path_factory.mktemp("a"), **env)
    b = LiveServer(tmp_path_factory.mktemp("b"), **env)
    yield a, b
    a.stop()
    b.stop()


async def test_a_chat_sent_through_instance_a_reaches_a_client_on_instance_b(
    instances: tuple[LiveServer, LiveServer],
):
    a, b = instances
    session = new_live_session(a)
    on_a, _ = await hello(a, session, "On A")
    on_b, _ = await hello(b, session, "On B")

    await on_a.send(json.dumps({"type": "chat", "text": "from A"}))

    received = await next_of(on_b, "chat")
    echoed = await next_of(on_a, "chat")
    assert (received["text"], received["from"]["name"]) == ("from A", "On A")
    assert received["seq"] == echoed["seq"]  # one order, one numbering, on both instances


async def test_a_client_that_drops_from_a_and_resumes_on_b_gets_exactly_what_it_missed(
    instances: tuple[LiveServer, LiveServer],
):
    a, b = instances
    session = new_live_session(a)

    seen, again, replayed, live = await drop_and_resume(a, b, session)

    assert again["recovered"] is True
    assert [(c["seq"], c["text"]) for c in replayed] == [(seen + 1, "two"), (seen + 2, "three")]
    assert (live["seq"], live["text"]) == (seen + 3, "four")


async def test_avatars_on_one_instance_are_seen_from_the_other(
    instances: tuple[LiveServer, LiveServer],
):
    a, b = instances
    session = new_live_session(a)
    walker, walker_welcome = await hello(a, session, "Walker")
    watcher, _ = await hello(b, session, "Watcher")

    await walker.send(
        encode_client_frame(FRAME_POSE, Pose.from_metres((3.0, 4.0, 1.5), (0, 0, 0, 1)))
    )

    async with asyncio.timeout(5):
        while True:
            frame = await watcher.recv()
            if isinstance(frame, bytes):
                _, _, avatars = decode_tick(frame)
                if len(avatars):
                    break
    assert avatars["member"].tolist() == [walker_welcome["you"]["id"]]
    assert avatars["pos_cm"].tolist() == [[300, 400, 150]]


async def test_a_ban_given_on_one_instance_closes_the_member_on_the_other(
    instances: tuple[LiveServer, LiveServer],
):
    a, b = instances
    session = new_live_session(a)
    host, _ = await hello(a, session, "Host", "HOST")
    ticket = b.ticket(session, "Troll")
    troll = await connect(f"{b.ws_base}{ticket['url']}")
    await troll.send(json.dumps({"type": "hello", "token": ticket["token"]}))
    await next_of(troll, "welcome")

    await host.send(json.dumps({"type": "moderate", "action": "ban", "member": ticket["memberId"]}))

    assert await close_code(troll) == CLOSE_BANNED
    again = await connect(f"{b.ws_base}{ticket['url']}")
    await again.send(json.dumps({"type": "hello", "token": ticket["token"]}))
    assert await close_code(again) == CLOSE_BANNED


async def test_capacity_holds_across_instances_when_many_join_at_once(
    instances: tuple[LiveServer, LiveServer],
):
    a, b = instances
    session = new_live_session(a, capacity=5)

    joined = await asyncio.gather(
        *(hello(a if i % 2 else b, session, f"Visitor {i}") for i in range(16))
    )

    tiers = [welcome["you"]["tier"] for _, welcome in joined]
    assert tiers.count("avatar") == 5
    assert tiers.count("spectator") == 11
    leaver = next(ws for ws, welcome in joined if welcome["you"]["tier"] == "avatar")
    await leaver.close()
    await asyncio.sleep(0.5)
    _, late = await hello(b, session, "Late")
    assert late["you"]["tier"] == "avatar"  # the freed seat, given on the other instance


async def test_a_redis_restart_loses_no_acknowledged_chat_and_the_service_stays_up(
    tmp_path: Path, own_redis: RedisServer
):
    server = LiveServer(tmp_path / "app", TWINLAND_REDIS_URL=own_redis.url)
    try:
        session = new_live_session(server)
        ticket = server.ticket(session, "Visitor")
        client = await connect(f"{server.ws_base}{ticket['url']}")
        await client.send(json.dumps({"type": "hello", "token": ticket["token"]}))
        welcome = json.loads(await client.recv())
        await client.send(json.dumps({"type": "chat", "text": "before the restart"}))
        acknowledged = await next_of(client, "chat")

        own_redis.stop()
        await client.send(json.dumps({"type": "chat", "text": "during the outage"}))
        refused = await next_of(client, "error", timeout_s=15)
        async with httpx.AsyncClient(timeout=10) as http:
            ready = (await http.get(f"{server.base}/readyz")).json()
        still_answers = server.graphql("{ regions { slug } }")
        own_redis.start()

        assert await close_code(client, timeout_s=20) == CLOSE_TRY_AGAIN
        back = await connect(f"{server.ws_base}{ticket['url']}")
        await back.send(
            json.dumps(
                {
                    "type": "hello",
                    "token": ticket["token"],
                    "resume": {"epoch": welcome["session"]["epoch"], "seq": acknowledged["seq"]},
                }
            )
        )
        again = json.loads(await back.recv())
        await back.send(json.dumps({"type": "chat", "text": "after the restart"}))
        after = await next_of(back, "chat", timeout_s=10)
    finally:
        server.stop()

    assert refused["code"] == "unavailable"  # not acknowledged, so not lost: the sender knows
    assert ready["status"] == "degraded"
    assert ready["checks"]["live_hub"].startswith("unavailable")
    assert still_answers["regions"]
    assert again["recovered"] is False  # told, not silently given a gap
    assert again["session"]["epoch"] != welcome["session"]["epoch"]
    assert "before the restart" in [c["text"] for c in again["chat"]]
    assert (after["text"], after["seq"]) == ("after the restart", 1)
