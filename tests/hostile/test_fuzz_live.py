"""Property-based fuzzing of the live protocol, bounded for CI like tests/hostile/test_fuzz.py
(TWINLAND_FUZZ_EXAMPLES per target, the same examples every run). Frames are well-shaped
messages of every type with random field values, any JSON, random text, truncated JSON,
JSON nested past the decoder's depth, random bytes and pose-sized binary frames:

- into the room (backend/live/room.py) from a host, an attendee and a spectator, with
  ticks and time passing between them: nothing raises, only documented error and close
  codes come out, everything sent encodes as UTF-8 JSON, ``seq`` has no gap, and a
  newcomer can still join and chat;
- as the first frame to a real server: anything but a well-formed hello closes with 4400,
  a well-formed hello whose token is not a ticket with 4401;
- from a welcomed client of a real server: every frame gets nothing or a documented error,
  and the connection and the session carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import struct
from typing import Any

import httpx
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from websockets.asyncio.client import connect

from backend.live.protocol import (
    CLOSE_ABUSE,
    CLOSE_BAD_TOKEN,
    CLOSE_BANNED,
    CLOSE_KICKED,
    CLOSE_PROTOCOL,
    REACTIONS,
    ProtocolError,
    parse_hello,
)
from backend.live.tokens import Role
from tests.hostile.live_clients import close_frame, join
from tests.live.harness import RoomHarness
from tests.live.server import LiveServer, new_live_session

FUZZ_EXAMPLES = int(os.environ.get("TWINLAND_FUZZ_EXAMPLES", "60"))  # as in test_fuzz.py
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
# docs/live-protocol.md; "unavailable" only comes with a Redis hub that is down
ERROR_CODES = {
    "bad_json",
    "bad_message",
    "unknown_type",
    "too_long",
    "forbidden",
    "muted",
    "rate_limited",
    "not_found",
    "already_voted",
    "already_upvoted",
    "bad_option",
    "poll_closed",
    "no_avatar",
    "bad_frame",
    "session_not_live",
}
MEMBERS = (101, 102, 103)  # RoomHarness's host, attendee and spectator below

# --- frames -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats()
    | st.text(max_size=20),  # lone surrogates included: json.dumps escapes them as \udXXX
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# strings that have broken text handling somewhere, mixed into the random ones
NASTY = ("\x00", "\ud800", "half \udfff", "\u202egnp.exe", "\r\n", " ", "🎉" * 200, "가" * 501)
ids = st.sampled_from(MEMBERS) | st.integers(-2, 12)


def texts(max_size: int) -> st.SearchStrategy[str]:
    return st.text(max_size=max_size) | st.sampled_from(NASTY)


optional_text = st.none() | texts(250)
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "text": texts(600),
    "emoji": st.sampled_from(REACTIONS) | st.text(max_size=3),
    "question": ids | texts(250),
    "options": st.lists(texts(30), max_size=10),
    "poll": ids,
    "option": ids,
    "member": ids,
    "action": st.sampled_from(["mute", "unmute", "kick", "ban", "unban"]),
    "poi": optional_text,
    "layer": optional_text,
    "scenario": optional_text,
    "time": optional_text,
    "reason": optional_text,
    "token": optional_text,
    "name": optional_text,
    "resume": st.fixed_dictionaries({"epoch": st.text(max_size=16), "seq": st.integers(-1, 50)}),
}


FIELDS_OF = {
    "chat": ("text",),
    "react": ("emoji",),
    "question.ask": ("text",),
    "question.upvote": ("question",),
    "question.answer": ("question",),
    "poll.open": ("question", "options"),
    "poll.vote": ("poll", "option"),
    "poll.close": ("poll",),
    "spotlight": ("poi",),
    "scene.switch": ("layer", "scenario", "time"),
    "announce": ("text",),
    "moderate": ("action", "member", "reason"),
    "hello": ("token", "name", "resume"),
}


def message(kind: str) -> st.SearchStrategy[str]:
    """A message of ``kind`` with its own fields holding plausible values (the nasty and
    wrong ones included), and sometimes other fields of the protocol besides."""
    own = {name: PLAUSIBLE[name] for name in FIELDS_OF[kind]}
    others = {name: value | json_values for name, value in PLAUSIBLE.items() if name not in own}
    return st.fixed_dictionaries({"type": st.just(kind), **own}, optional=others).map(json.dumps)


well_formed = st.one_of([message(kind) for kind in FIELDS_OF if kind != "hello"])
odd_shapes = st.fixed_dictionaries(
    {"type": st.sampled_from(list(FIELDS_OF)) | st.text(max_size=12) | json_values},
    optional={name: value | json_values for name, value in PLAUSIBLE.items()},
).map(json.dumps)
text_frames = st.one_of(
    well_formed,
    odd_shapes,
    json_values.map(json.dumps),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=100),  # what a socket can carry
    well_formed.flatmap(lambda text: st.integers(0, len(text) - 1).map(lambda cut: text[:cut])),
    # past the decoder's depth however deep the stack it runs on (the server's is deep)
    st.integers(900, 5000).map(lambda depth: "[" * depth),
)
binary_frames = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda kind, position, rotation: struct.pack("<B3i4h", kind, *position, *rotation),
        st.sampled_from([0x01, 0x03]) | st.integers(0, 255),
        st.tuples(*[st.integers(-(2**31), 2**31 - 1)] * 3),
        st.tuples(*[st.integers(-(2**15), 2**15 - 1)] * 4),
    ),
)
frames = text_frames | binary_frames
hellos = message("hello")


# --- the room -----------------------------------------------------------------------------


def documented(frames_sent: list[str | bytes]) -> list[dict[str, Any]]:
    """The JSON frames among ``frames_sent``, each checked to be sendable and documented."""
    found = []
    for frame in frames_sent:
        if isinstance(frame, bytes):
            continue
        frame.encode()  # UTF-8 on the wire: a lone surrogate would raise here
        message = json.loads(frame)
        assert isinstance(message, dict), message
        if message["type"] == "error":
            assert message["code"] in ERROR_CODES, message
        found.append(message)
    return found


@FUZZ
@given(
    actions=st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2]),
            frames | st.none(),  # None: the clock ticks
            st.floats(0, 2),
        ),
        max_size=30,
    )
)
def test_the_room_answers_any_frames_with_documented_frames(
    actions: list[tuple[int, str | bytes | None, float]],
) -> None:
    room = RoomHarness(capacity=2)
    senders = [room.join("host", Role.HOST), room.join("attendee"), room.join("spectator")]
    listener = room.join("listener", member_id=1_234_567)  # sends nothing, sees everything
    assert [room.member_id(c) for c in senders] == list(MEMBERS)

    for who, frame, elapsed_s in actions:
        room.now_s += elapsed_s
        if frame is None:
            room.tick()
        elif isinstance(frame, str):
            room.send_raw(senders[who], frame)
        else:
            room.send_binary(senders[who], frame)

    for conn in (*senders, listener):
        documented(room.inbox[conn])
    assert {code for code, _ in room.closed.values()} <= {CLOSE_ABUSE, CLOSE_KICKED, CLOSE_BANNED}
    seqs = [m["seq"] for m in documented(room.inbox[listener]) if "seq" in m]
    assert seqs == list(range(1, room.room.seq + 1))
    newcomer = room.join("newcomer", member_id=7_654_321)
    room.send(newcomer, type="chat", text="hello after all that")
    [welcome, *_] = documented(room.inbox[newcomer])
    assert welcome["type"] == "welcome"
    assert [c["text"] for c in room.frames(newcomer, "chat")] == ["hello after all that"]


# --- a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed_session(live_server: LiveServer) -> str:
    return new_live_session(live_server)


@FUZZ
@given(first=hellos | frames)
async def test_a_fuzzed_first_frame_closes_with_4400_or_4401(
    live_server: LiveServer, fuzzed_session: str, first: str | bytes
) -> None:
    expected = CLOSE_PROTOCOL
    if isinstance(first, str):
        with contextlib.suppress(ProtocolError):
            parse_hello(first)
            expected = CLOSE_BAD_TOKEN  # a hello, but its token is no ticket of ours
    ws = await connect(f"{live_server.ws_base}/live/{fuzzed_session}")

    await ws.send(first)

    closed = await close_frame(ws)
    assert closed is not None
    assert closed.code == expected, closed
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{live_server.base}/healthz")).status_code == 200


sentinels = itertools.count()


@FUZZ
@given(
    role=st.sampled_from([Role.ATTENDEE, Role.HOST]),
    batch=st.lists(frames, min_size=1, max_size=8),
)
async def test_fuzzed_frames_from_a_member_get_documented_answers_and_the_session_carries_on(
    live_server: LiveServer, role: Role, batch: list[str | bytes]
) -> None:
    # a session per example, so that a failure shrinks to the batch that caused it
    ws, _ = await join(live_server, new_live_session(live_server), role, "fuzzer")
    sentinel = f"sentinel {next(sentinels)}"

    for frame in batch:
        await ws.send(frame)
    # through the hub and back to everyone: the session's events still flow after the batch
    await ws.send(json.dumps({"type": "question.ask", "text": sentinel}))

    async with asyncio.timeout(10):
        while True:  # a close here fails the test: nothing in a batch may end the session
            frame = await ws.recv()
            if isinstance(frame, str):
                [message] = documented([frame])
                if message["type"] == "question" and message["question"]["text"] == sentinel:
                    break
    await ws.close()
