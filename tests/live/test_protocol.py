"""Wire format and tickets: parsing, binary round trips, token checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backend.live.protocol import (
    AVATAR_DTYPE,
    FRAME_CAMERA,
    FRAME_POSE,
    Pose,
    ProtocolError,
    decode_client_frame,
    decode_tick,
    encode_client_frame,
    encode_tick,
    parse_hello,
    parse_json,
)
from backend.live.tokens import Role, TokenError, issue_join_token, verify_join_token

SECRET = "a-test-secret-of-at-least-thirty-two-chars"
NOW = datetime(2027, 5, 1, 10, 0, tzinfo=UTC)


def test_a_hello_with_resume_parses():
    hello = parse_hello(
        '{"type":"hello","token":"t","name":"Jisoo","resume":{"epoch":"e","seq":4}}'
    )

    assert (hello.token, hello.name, hello.resume_epoch, hello.resume_seq) == ("t", "Jisoo", "e", 4)


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        '{"type":"chat","text":"hi"}',
        '{"type":"hello","token":7}',
        '{"type":"hello","token":"t","name":"\\ud800"}',
        "[" * 2000,
        '{"type":"hello","token":"t","resume":{"epoch":"e","seq":-1}}',
        '{"type":"hello","token":"t","name":"' + "n" * 41 + '"}',
        '{"type":"hello","token":"t","name":"bad\\u0007bell"}',
    ],
)
def test_a_bad_hello_is_a_protocol_error(text: str):
    with pytest.raises(ProtocolError):
        parse_hello(text)


def test_a_hello_without_a_token_is_left_to_the_ticket_check():
    # docs/live-protocol.md: a missing token closes with 4401 (get a ticket), like a bad one
    assert parse_hello('{"type":"hello"}').token == ""


def test_pose_frames_round_trip_in_centimetres_and_snorm_quaternions():
    pose = Pose.from_metres((1234.567, -89.01, 12.3), (0.0, 0.0, 0.7071068, 0.7071068))

    kind, decoded = decode_client_frame(encode_client_frame(FRAME_CAMERA, pose))

    assert kind == FRAME_CAMERA
    assert decoded.pos_cm == (123457, -8901, 1230)
    assert decoded.rot == (0, 0, 23170, 23170)
    assert len(encode_client_frame(FRAME_POSE, pose)) == 21


@pytest.mark.parametrize("data", [b"", b"\x01" * 20, b"\x09" + b"\x00" * 20])
def test_malformed_binary_frames_are_refused(data: bytes):
    with pytest.raises(ProtocolError):
        decode_client_frame(data)


def test_tick_frames_round_trip():
    avatars = np.zeros(2, dtype=AVATAR_DTYPE)
    avatars[0] = (7, (100, 200, 300), (0, 0, 0, 32767))
    avatars[1] = (9, (-5, 0, 170), (32767, 0, 0, 0))
    camera = Pose((1, 2, 3), (0, 0, 0, 32767))

    tick, decoded_camera, decoded = decode_tick(encode_tick(42, camera, avatars))

    assert tick == 42
    assert decoded_camera == camera
    assert decoded.tobytes() == avatars.tobytes()
    assert decoded["member"].tolist() == [7, 9]


def test_a_ticket_round_trips_its_claims():
    token, claims = issue_join_token(
        SECRET, "s:1", "Mina", Role.GUIDE, now=NOW, ttl=timedelta(hours=1)
    )

    verified = verify_join_token(SECRET, token, "s:1", now=NOW + timedelta(minutes=59))

    assert verified == claims


@pytest.mark.parametrize(
    ("secret", "session", "at", "reason"),
    [
        ("another-secret-of-at-least-thirty-two-chars", "s:1", NOW, "invalid token"),
        (SECRET, "s:2", NOW, "another session"),
        (SECRET, "s:1", NOW + timedelta(hours=1), "expired"),
    ],
)
def test_forged_foreign_and_expired_tickets_are_refused(
    secret: str, session: str, at: datetime, reason: str
):
    token, _ = issue_join_token(
        SECRET, "s:1", "Mina", Role.ATTENDEE, now=NOW, ttl=timedelta(hours=1)
    )

    with pytest.raises(TokenError, match=reason):
        verify_join_token(secret, token, session, now=at)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"type":"chat","text":"half a pair: \\ud800"}', "an unpaired surrogate escape"),
        ('{"type":"ban","member":3,"reason":"spam\\u0000"}', "a NUL character (\\u0000)"),
    ],
)
def test_text_that_cannot_be_sent_on_or_stored_is_refused(text: str, problem: str):
    # a NUL in a moderation reason failed to save on PostgreSQL: the ban was lost at restart
    with pytest.raises(ProtocolError) as refused:
        parse_json(text)
    assert refused.value.code == "bad_json"
    assert refused.value.message.endswith(problem)
