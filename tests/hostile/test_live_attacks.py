"""Attacks on live sessions over WebSockets, against a real `twinland serve` (uvicorn's
websockets-sansio protocol, the in-process hub): each gets exactly the refusal that
docs/live-protocol.md and docs/hardening.md#live-sessions promise, and the service still
answers afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from backend.api.subscription import MAX_SUBSCRIPTIONS_PER_CONNECTION
from backend.live.protocol import (
    CLOSE_ABUSE,
    CLOSE_BAD_TOKEN,
    CLOSE_PROTOCOL,
    CLOSE_TOO_BIG,
    FRAME_POSE,
    MAX_FRAME_BYTES,
    Pose,
    encode_client_frame,
)
from backend.live.service import SLOW_CONSUMER_GRACE_S
from backend.live.tokens import Role
from tests.hostile.live_clients import (
    close_frame,
    errors_until_closed,
    join,
    masked_frame,
    next_json,
    peak_memory_growth_mib,
    reset_peak_memory,
    stalled_socket,
    still_serves,
    ticket,
)
from tests.live.server import LiveServer, new_live_session

CLOSE_PROTOCOL_ERROR = 1002  # RFC 6455: the peer broke the WebSocket protocol itself


async def test_a_foreign_origin_is_refused_before_the_handshake(live_server: LiveServer) -> None:
    session = new_live_session(live_server)

    with pytest.raises(InvalidStatus) as refused:
        await connect(
            f"{live_server.ws_base}/live/{session}", origin=Origin("https://evil.example")
        )

    assert refused.value.response.status_code == 403
    own_page, _ = await join(live_server, session, origin=Origin(live_server.base))
    await own_page.close()
    await still_serves(live_server, session)


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        ("missing", "no token"),
        ("expired", "token expired"),
        ("forged", "invalid token: Signature verification failed"),
    ],
)
async def test_a_missing_expired_or_forged_ticket_is_closed_with_4401(
    live_server: LiveServer, problem: str, reason: str
) -> None:
    session = new_live_session(live_server)
    hello = {"type": "hello"}
    if problem == "expired":
        hello["token"] = ticket(session, issued=datetime.now(UTC) - timedelta(hours=2))
    elif problem == "forged":  # a host's ticket, signed with a secret that is not ours
        hello["token"] = ticket(session, Role.HOST, secret="forged-" * 6)
    ws = await connect(f"{live_server.ws_base}/live/{session}")

    await ws.send(json.dumps(hello))

    closed = await close_frame(ws)
    assert closed is not None
    assert (closed.code, closed.reason) == (CLOSE_BAD_TOKEN, reason)
    await still_serves(live_server, session)


async def test_a_10_mb_frame_closes_only_that_client_with_1009(live_server: LiveServer) -> None:
    session = new_live_session(live_server)
    big, _ = await join(live_server, session, name="big")
    calm, _ = await join(live_server, session, name="calm")
    pid = live_server.process.pid
    baseline_kib = reset_peak_memory(pid)

    sending = asyncio.create_task(big.send("x" * (10 * 2**20)))

    closed = await close_frame(big)
    assert closed is not None
    assert (closed.code, closed.reason) == (
        CLOSE_TOO_BIG,
        f"frame with {10 * 2**20} bytes exceeds limit of {MAX_FRAME_BYTES} bytes",
    )
    with contextlib.suppress(ConnectionClosed):  # the server stopped reading it midway
        await sending
    assert peak_memory_growth_mib(pid, baseline_kib) < 5  # refused by its header, not read
    await calm.send(json.dumps({"type": "chat", "text": "calm"}))
    assert (await next_json(calm, "chat"))["text"] == "calm"
    await calm.close()


async def test_a_deflate_bomb_is_refused_without_being_inflated(live_server: LiveServer) -> None:
    session = new_live_session(live_server)
    bomber, _ = await join(live_server, session, name="bomber", compression="deflate")
    # 50 MiB of chat deflated into one frame well under the 64 KiB limit: only a server
    # that inflated it would learn how big it is
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    text = b'{"type":"chat","text":"' + b"a" * (50 * 2**20) + b'"}'
    bomb = squeeze.compress(text) + squeeze.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(bomb) < MAX_FRAME_BYTES
    pid = live_server.process.pid
    baseline_kib = reset_peak_memory(pid)

    # offered by the client, not negotiated: permessage-deflate is off on the server
    assert bomber.request is not None
    assert bomber.response is not None
    assert "permessage-deflate" in bomber.request.headers["Sec-WebSocket-Extensions"]
    assert "Sec-WebSocket-Extensions" not in bomber.response.headers
    assert bomber.transport is not None
    bomber.transport.write(masked_frame(bomb, rsv1=True))  # marked compressed all the same

    closed = await close_frame(bomber)
    assert closed is not None
    assert (closed.code, closed.reason) == (CLOSE_PROTOCOL_ERROR, "reserved bits must be 0")
    assert peak_memory_growth_mib(pid, baseline_kib) < 16
    await still_serves(live_server, session)


async def test_a_pose_flood_is_told_once_then_closed_with_4430(live_server: LiveServer) -> None:
    session = new_live_session(live_server)
    flooder, welcome = await join(live_server, session, name="flooder")
    watcher, _ = await join(live_server, session, name="watcher")

    with contextlib.suppress(ConnectionClosed):  # closed before all of them are sent
        for i in range(1000):  # 30 a second are allowed
            await flooder.send(encode_client_frame(FRAME_POSE, Pose((i, 0, 0), (0, 0, 0, 32767))))

    errors, closed = await errors_until_closed(flooder)
    assert errors == ["rate_limited"]
    assert closed is not None
    assert closed.code == CLOSE_ABUSE
    async with asyncio.timeout(10):
        while welcome["you"]["id"] not in (await next_json(watcher, "presence"))["left"]:
            pass
    await watcher.send(json.dumps({"type": "chat", "text": "unaffected"}))
    assert (await next_json(watcher, "chat"))["text"] == "unaffected"
    await watcher.close()


@pytest.mark.parametrize(
    ("garbage", "answer", "allowance"),
    [(b"\x09", "bad_frame", 30), ("{", "bad_json", 20)],
    ids=["binary", "text"],
)
async def test_a_flood_of_malformed_frames_is_limited_then_closed_with_4430(
    live_server: LiveServer, garbage: str | bytes, answer: str, allowance: int
) -> None:
    # each malformed frame used to get its own error, without limit and without ever
    # counting as abuse; now they pay from the bucket of their kind like any other
    session = new_live_session(live_server)
    flooder, _ = await join(live_server, session, name="garbage")

    with contextlib.suppress(ConnectionClosed):
        for _ in range(1000):
            await flooder.send(garbage)

    errors, closed = await errors_until_closed(flooder)
    assert closed is not None
    assert closed.code == CLOSE_ABUSE
    told = errors.index("rate_limited")
    assert told >= allowance  # the burst is answered (a refill may add one)
    assert errors[:told] == [answer] * told
    assert set(errors[told:]) <= {answer, "rate_limited"}
    assert len(errors) < 100  # a few refills at most, not one answer per frame
    await still_serves(live_server, session)


async def test_a_client_that_stops_reading_is_cut_off_while_the_others_still_receive(
    live_server: LiveServer,
) -> None:
    session = new_live_session(live_server)
    slow, welcome = await join(
        live_server,
        session,
        name="stalled",
        sock=stalled_socket(live_server.port),
        max_queue=1,
        ping_interval=None,
    )
    hosts = [(await join(live_server, session, Role.HOST, f"host {i}"))[0] for i in range(10)]
    slow_left = asyncio.Event()

    async def keep_reading(ws: ClientConnection) -> None:
        async for frame in ws:
            if isinstance(frame, str) and welcome["you"]["id"] in json.loads(frame).get("left", ()):
                slow_left.set()

    readers = [asyncio.create_task(keep_reading(host)) for host in hosts]
    # ~5.4 KB each in UTF-8: the hosts' bursts of 20 make ~1 MB for every client
    poll = json.dumps(
        {"type": "poll.open", "question": "가" * 200, "options": ["나" * 200] * 8},
        ensure_ascii=False,
    )
    async with asyncio.timeout(60):
        while not slow_left.is_set():
            for host in hosts:
                for _ in range(20):
                    await host.send(poll)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SLOW_CONSUMER_GRACE_S + 5):
                    await slow_left.wait()
    for reader in readers:
        reader.cancel()

    # what it never read ends without a close frame: its socket was cut, not closed politely
    assert await close_frame(slow) is None
    await hosts[1].send(json.dumps({"type": "chat", "text": "carry on"}))
    assert (await next_json(hosts[2], "chat"))["text"] == "carry on"
    for host in hosts:
        await host.close()
    await still_serves(live_server, session, max_size=2**22)  # the welcome lists 200 polls


async def test_a_lone_surrogate_escape_is_refused_and_the_session_carries_on(
    live_server: LiveServer,
) -> None:
    # "\ud800" used to be accepted, broadcast and kept in the chat history, where it could
    # not be encoded: the session's events stopped for everyone and every later join failed
    session = new_live_session(live_server)
    sender, _ = await join(live_server, session, name="sender")

    await sender.send('{"type":"chat","text":"half a pair: \\ud800"}')

    error = await next_json(sender, "error")
    assert (error["code"], error["message"]) == (
        "bad_json",
        "not JSON text: an unpaired surrogate escape",
    )
    await sender.send(json.dumps({"type": "chat", "text": "whole: \U0001f389"}))
    assert (await next_json(sender, "chat"))["text"] == "whole: 🎉"
    await still_serves(live_server, session)


async def test_deeply_nested_json_is_refused_as_bad_json(live_server: LiveServer) -> None:
    # json.loads raises RecursionError past ~1,000 levels: a hello failed in the ASGI app
    # (no close code), a frame in a session closed the client as if it had left (1000)
    session = new_live_session(live_server)
    stranger = await connect(f"{live_server.ws_base}/live/{session}")
    member, _ = await join(live_server, session, name="member")

    await stranger.send("[" * 2000)
    await member.send("[" * 2000)

    closed = await close_frame(stranger)
    assert closed is not None
    assert (closed.code, closed.reason) == (CLOSE_PROTOCOL, "not JSON: nested too deeply")
    assert (await next_json(member, "error"))["code"] == "bad_json"
    await member.send(json.dumps({"type": "chat", "text": "still connected"}))
    assert (await next_json(member, "chat"))["text"] == "still connected"
    await member.close()


SUBSCRIBE = "subscription($id: ID!) { liveSessionEvents(id: $id) { kind seq text } }"


async def test_subscriptions_past_the_cap_on_one_connection_are_refused_one_by_one(
    live_server: LiveServer,
) -> None:
    session = new_live_session(live_server)
    host, _ = await join(live_server, session, Role.HOST, "host")
    graphql = await connect(
        f"{live_server.ws_base}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
    )
    await graphql.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await graphql.recv()) == {"type": "connection_ack"}

    def subscribe(operation: str) -> str:
        payload = {"query": SUBSCRIBE, "variables": {"id": session}}
        return json.dumps({"id": operation, "type": "subscribe", "payload": payload})

    cap = MAX_SUBSCRIPTIONS_PER_CONNECTION
    for i in range(cap + 20):
        await graphql.send(subscribe(str(i)))

    refusals = [json.loads(await graphql.recv()) for _ in range(20)]
    assert refusals == [
        {"id": str(i), "type": "error", "payload": [{"message": "Subscription limit reached"}]}
        for i in range(cap, cap + 20)
    ]
    # the first `cap` still run, and completing one frees its place
    await graphql.send(json.dumps({"id": "0", "type": "complete"}))
    await graphql.send(subscribe("again"))
    waiting = {str(i) for i in range(1, cap)} | {"again"}
    async with asyncio.timeout(30):
        while waiting:  # announce until every subscription has seen one (they start async)
            await host.send(json.dumps({"type": "announce", "text": "to the pier"}))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    while waiting:
                        message = json.loads(await graphql.recv())
                        assert message["type"] == "next", message
                        assert message["payload"]["data"]["liveSessionEvents"]["kind"] == (
                            "ANNOUNCEMENT"
                        )
                        waiting.discard(message["id"])
    await graphql.close()
    await host.close()
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{live_server.base}/healthz")).status_code == 200
