"""Real WebSocket clients against a running server (uvicorn + websockets, SQLite)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from backend.live.protocol import (
    CLOSE_BAD_TOKEN,
    CLOSE_BANNED,
    CLOSE_NOT_LIVE,
    CLOSE_PROTOCOL,
    CLOSE_TOO_BIG,
    FRAME_POSE,
    Pose,
    decode_tick,
    encode_client_frame,
)
from backend.live.tokens import Role, issue_join_token
from tests.live.server import LiveServer, new_live_session


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    running = LiveServer(tmp_path_factory.mktemp("live"))
    yield running
    running.stop()


async def hello(
    server: LiveServer, session_id: str, name: str, role: str | None = None, **extra: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    ticket = server.ticket(session_id, name, role)
    ws = await connect(f"{server.ws_base}{ticket['url']}", max_size=2**20)
    await ws.send(json.dumps({"type": "hello", "token": ticket["token"], **extra}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def next_of(ws: ClientConnection, kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """The next JSON frame of ``kind``, skipping ticks and other frames."""
    async with asyncio.timeout(timeout_s):
        while True:
            frame = await ws.recv()
            if isinstance(frame, str) and json.loads(frame)["type"] == kind:
                result: dict[str, Any] = json.loads(frame)
                return result


async def close_code(ws: ClientConnection, timeout_s: float = 5.0) -> int | None:
    async with asyncio.timeout(timeout_s):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


async def test_chat_from_one_client_reaches_the_others_in_order(server: LiveServer):
    session = new_live_session(server)
    alice, welcome = await hello(server, session, "Alice")
    bob, _ = await hello(server, session, "Bob")

    await alice.send(json.dumps({"type": "chat", "text": "안녕하세요"}))
    await alice.send(json.dumps({"type": "chat", "text": "second"}))

    first, second = await next_of(bob, "chat"), await next_of(bob, "chat")
    assert (first["text"], first["from"]["name"], second["text"]) == (
        "안녕하세요",
        "Alice",
        "second",
    )
    assert second["seq"] == first["seq"] + 1
    assert welcome["you"]["role"] == "attendee"
    await alice.close()
    await bob.close()


@pytest.mark.parametrize("problem", ["garbage", "forged", "other-session", "expired"])
async def test_bad_tokens_are_closed_with_4401(server: LiveServer, problem: str):
    from datetime import UTC, datetime, timedelta

    session = new_live_session(server)
    other = new_live_session(server)
    now = datetime.now(UTC)
    token = {
        "garbage": "not-a-token",
        "forged": issue_join_token(
            "a-forged-secret-of-thirty-two-characters",
            session,
            "x",
            Role.HOST,
            now=now,
            ttl=timedelta(hours=1),
        )[0],
        "other-session": server.ticket(other, "x")["token"],
        "expired": issue_join_token(
            "twinland-dev-live-secret-not-for-production",
            session,
            "x",
            Role.ATTENDEE,
            now=now - timedelta(hours=2),
            ttl=timedelta(hours=1),
        )[0],
    }[problem]
    ws = await connect(f"{server.ws_base}/live/{session}")
    await ws.send(json.dumps({"type": "hello", "token": token}))

    assert await close_code(ws) == CLOSE_BAD_TOKEN


async def test_a_first_frame_that_is_not_hello_is_a_protocol_error(server: LiveServer):
    session = new_live_session(server)
    ws = await connect(f"{server.ws_base}/live/{session}")
    await ws.send(json.dumps({"type": "chat", "text": "hi"}))

    assert await close_code(ws) == CLOSE_PROTOCOL


async def test_a_foreign_origin_is_refused_before_the_handshake(server: LiveServer):
    session = new_live_session(server)

    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{server.ws_base}/live/{session}", origin=Origin("https://evil.example"))

    assert refused.value.response.status_code == 403


async def test_an_oversized_frame_closes_only_that_client(server: LiveServer):
    session = new_live_session(server)
    big, _ = await hello(server, session, "Big")
    calm, _ = await hello(server, session, "Calm")

    await big.send("x" * (70 * 1024))

    assert await close_code(big) == CLOSE_TOO_BIG
    await calm.send(json.dumps({"type": "chat", "text": "still here"}))
    assert (await next_of(calm, "chat"))["text"] == "still here"


async def test_poses_arrive_as_one_aggregated_binary_frame_per_tick(server: LiveServer):
    session = new_live_session(server)
    walker, walker_welcome = await hello(server, session, "Walker")
    watcher, _ = await hello(server, session, "Watcher")

    await walker.send(
        encode_client_frame(FRAME_POSE, Pose.from_metres((12.5, -3.0, 1.7), (0, 0, 0, 1)))
    )

    async with asyncio.timeout(5):
        while True:
            frame = await watcher.recv()
            if isinstance(frame, bytes):
                _, _, avatars = decode_tick(frame)
                if len(avatars):
                    break
    assert avatars["member"].tolist() == [walker_welcome["you"]["id"]]
    assert avatars["pos_cm"].tolist() == [[1250, -300, 170]]


async def drop_and_resume(
    first: LiveServer, back: LiveServer, session: str
) -> tuple[int, dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """A listener on ``first`` sees one chat and drops; two more are sent; it resumes on
    ``back`` and a fourth is sent. (seq it saw, welcome on resume, replayed, live one)."""
    talker, _ = await hello(first, session, "Talker")
    ticket = first.ticket(session, "Listener")
    listener = await connect(f"{first.ws_base}{ticket['url']}")
    await listener.send(json.dumps({"type": "hello", "token": ticket["token"]}))
    welcome = json.loads(await listener.recv())
    await talker.send(json.dumps({"type": "chat", "text": "one"}))
    seen = (await next_of(listener, "chat"))["seq"]
    await listener.close()
    for text in ("two", "three"):
        await talker.send(json.dumps({"type": "chat", "text": text}))
    for _ in range(3):
        await next_of(talker, "chat")

    resumed = await connect(f"{back.ws_base}{ticket['url']}")
    resume = {"epoch": welcome["session"]["epoch"], "seq": seen}
    await resumed.send(json.dumps({"type": "hello", "token": ticket["token"], "resume": resume}))
    again = json.loads(await resumed.recv())
    replayed = [await next_of(resumed, "chat"), await next_of(resumed, "chat")]
    await talker.send(json.dumps({"type": "chat", "text": "four"}))
    live = await next_of(resumed, "chat")
    return seen, again, replayed, live


async def test_a_client_that_drops_and_resumes_gets_what_it_missed_exactly_once(server: LiveServer):
    session = new_live_session(server)

    seen, again, replayed, live = await drop_and_resume(server, server, session)

    assert again["recovered"] is True
    assert [(c["seq"], c["text"]) for c in replayed] == [(seen + 1, "two"), (seen + 2, "three")]
    assert (live["seq"], live["text"]) == (seen + 3, "four")  # no duplicate, no gap


async def test_a_ban_is_persisted_and_enforced_at_reconnect_and_after_a_restart(tmp_path: Path):
    server = LiveServer(tmp_path)
    try:
        session = new_live_session(server)
        host, _ = await hello(server, session, "Host", "HOST")
        ticket = server.ticket(session, "Troll")
        troll = await connect(f"{server.ws_base}{ticket['url']}")
        await troll.send(json.dumps({"type": "hello", "token": ticket["token"]}))
        await next_of(troll, "welcome")

        await host.send(
            json.dumps(
                {
                    "type": "moderate",
                    "action": "ban",
                    "member": ticket["memberId"],
                    "reason": "abuse",
                }
            )
        )

        assert await close_code(troll) == CLOSE_BANNED
        await next_of(host, "moderation")
    finally:
        server.stop()
    restarted = LiveServer(tmp_path)
    try:
        again = await connect(f"{restarted.ws_base}{ticket['url']}")
        await again.send(json.dumps({"type": "hello", "token": ticket["token"]}))
        assert await close_code(again) == CLOSE_BANNED
    finally:
        restarted.stop()


async def test_ending_the_session_closes_every_client_and_refuses_new_ones(server: LiveServer):
    session = new_live_session(server)
    visitor, _ = await hello(server, session, "Visitor")
    ticket = server.ticket(session, "Late")

    server.set_status(session, "ENDED")

    assert (await next_of(visitor, "status"))["status"] == "ended"
    assert await close_code(visitor) == CLOSE_NOT_LIVE
    late = await connect(f"{server.ws_base}{ticket['url']}")
    await late.send(json.dumps({"type": "hello", "token": ticket["token"]}))
    assert await close_code(late) == CLOSE_NOT_LIVE


SUBSCRIBE = """subscription($id: ID!) {
  liveSessionEvents(id: $id) {
    kind seq status text poiId
    poll { id question options tally open }
  }
}"""


async def test_the_graphql_subscription_carries_status_polls_and_announcements(server: LiveServer):

    session = new_live_session(server)
    host, _ = await hello(server, session, "Host", "HOST")
    voter, _ = await hello(server, session, "Voter")
    graphql = await connect(
        f"{server.ws_base}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
    )
    await graphql.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await graphql.recv())["type"] == "connection_ack"
    await graphql.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"id": session}},
            }
        )
    )
    await asyncio.sleep(0.3)  # the subscription is registered before the events happen

    await host.send(
        json.dumps({"type": "poll.open", "question": "Which plan?", "options": ["A", "B"]})
    )
    poll = await next_of(voter, "poll")
    await voter.send(json.dumps({"type": "poll.vote", "poll": poll["poll"]["id"], "option": 1}))
    await host.send(json.dumps({"type": "announce", "text": "Moving to the pier"}))
    await next_of(voter, "announcement")
    server.set_status(session, "ENDED")

    events = []
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await graphql.recv())
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            events.append(message["payload"]["data"]["liveSessionEvents"])
    assert [e["kind"] for e in events] == ["POLL_OPENED", "POLL_TALLY", "ANNOUNCEMENT", "STATUS"]
    assert events[1]["poll"] == {
        "id": 1,
        "question": "Which plan?",
        "options": ["A", "B"],
        "tally": [0, 1],
        "open": True,
    }
    assert events[2]["text"] == "Moving to the pier"
    assert events[3]["status"] == "ENDED"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


async def test_under_twinland_serve_live_frames_take_the_direct_path(server: LiveServer):
    # guards backend/live/direct.py: a uvicorn upgrade that moved its internals would
    # silently fall back to the slower ASGI path; this makes it loud
    session = new_live_session(server)
    client, _ = await hello(server, session, "Counted")

    async with httpx.AsyncClient(timeout=10) as http:
        metrics = (await http.get(f"{server.base}/metrics")).text

    direct = re.search(r'twinland_live_connections\{path="direct"\} ([\d.]+)', metrics)
    assert direct is not None
    assert float(direct.group(1)) >= 1  # this client, and any other test's still open
    assert 'twinland_live_connections{path="asgi"}' not in metrics
    await client.close()
