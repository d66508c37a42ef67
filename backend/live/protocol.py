"""The wire format of ``/live/{sessionId}``: close codes, JSON control frames, binary poses.

Everything here is pure: bytes and strings in, typed values out, ``ProtocolError`` naming
the problem otherwise. docs/live-protocol.md is the contract for client authors.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

# --- close codes (RFC 6455 reserves 4000-4999 for applications) ---------------------------
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # server shutting down: reconnect (and resume) in a moment
CLOSE_TOO_BIG = 1009  # a frame above MAX_FRAME_BYTES
CLOSE_TRY_AGAIN = 1013  # the hub is unavailable: reconnect later
CLOSE_REPLACED = 4000  # the same member connected again elsewhere; this one is closed
CLOSE_PROTOCOL = 4400  # the first frame was not a valid hello, or a binary frame is malformed
CLOSE_BAD_TOKEN = 4401  # missing, forged, expired or another session's token
CLOSE_BANNED = 4403  # banned from this session (checked at connect and at resume)
CLOSE_FORBIDDEN_ORIGIN = 4406  # the page's Origin is not allowed
CLOSE_NOT_LIVE = 4409  # scheduled, ended or cancelled
CLOSE_KICKED = 4410  # removed by a moderator (may come back, unlike a ban)
CLOSE_FULL = 4429  # avatar and spectator capacity both reached
CLOSE_ABUSE = 4430  # kept flooding after being told to slow down
CLOSE_SLOW_CONSUMER = 4431  # did not read: its outbound queue overflowed

MAX_FRAME_BYTES = 64 * 1024
MAX_CHAT_CHARS = 500
MAX_NAME_CHARS = 40
MAX_QUESTION_CHARS = 300
MAX_POLL_OPTIONS = 8
MAX_POLL_TEXT_CHARS = 200
REACTIONS = ("👏", "❤️", "😂", "😮", "👍", "🎉")

# --- binary frames ------------------------------------------------------------------------
# Positions in ENU centimetres as int32 (±21,000 km: any scene), orientation as a unit
# quaternion in int16 snorm (±1/32767 ≈ 0.003°·scale: invisible). Little-endian.
FRAME_POSE = 0x01  # client → server: my avatar
FRAME_TICK = 0x02  # server → client: the avatars (and guide camera) of one tick
FRAME_CAMERA = 0x03  # guide/host → server: the camera everyone may follow
_POSE = struct.Struct("<3i4h")  # 20 bytes
_CLIENT_FRAME = struct.Struct("<B3i4h")  # 21 bytes
_TICK_HEADER = struct.Struct("<BIBH")  # kind, tick, flags, avatar count
TICK_HAS_CAMERA = 0x01
AVATAR_DTYPE = np.dtype(
    [("member", "<u4"), ("pos_cm", "<i4", 3), ("rot", "<i2", 4)]
)  # 24 bytes per avatar in a tick frame


class ProtocolError(Exception):
    """A frame breaks the protocol; ``code`` is the error frame's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Pose:
    """Where an avatar (or the guide's camera) is: ENU centimetres, int16-snorm quaternion."""

    pos_cm: tuple[int, int, int]
    rot: tuple[int, int, int, int]

    def pack(self) -> bytes:
        return _POSE.pack(*self.pos_cm, *self.rot)

    @property
    def position_m(self) -> tuple[float, float, float]:
        return (self.pos_cm[0] / 100, self.pos_cm[1] / 100, self.pos_cm[2] / 100)

    @classmethod
    def from_metres(
        cls,
        position_m: tuple[float, float, float],
        rotation_xyzw: tuple[float, float, float, float],
    ) -> Pose:
        norm = math.sqrt(sum(c * c for c in rotation_xyzw)) or 1.0
        x, y, z, w = (round(c / norm * 32767) for c in rotation_xyzw)
        return cls(
            (round(position_m[0] * 100), round(position_m[1] * 100), round(position_m[2] * 100)),
            (x, y, z, w),
        )

    def as_json(self) -> dict[str, list[float]]:
        return {
            "position": list(self.position_m),
            "orientation": [c / 32767 for c in self.rot],
        }


def encode_client_frame(kind: int, pose: Pose) -> bytes:
    """A client's pose or camera frame (for clients, tests and the load generator)."""
    return _CLIENT_FRAME.pack(kind, *pose.pos_cm, *pose.rot)


def decode_client_frame(data: bytes) -> tuple[int, Pose]:
    if len(data) != _CLIENT_FRAME.size:
        raise ProtocolError(
            "bad_frame", f"a binary frame is {_CLIENT_FRAME.size} bytes, got {len(data)}"
        )
    kind, x, y, z, qx, qy, qz, qw = _CLIENT_FRAME.unpack(data)
    if kind not in (FRAME_POSE, FRAME_CAMERA):
        raise ProtocolError("bad_frame", f"unknown binary frame kind {kind}")
    return kind, Pose((x, y, z), (qx, qy, qz, qw))


def encode_tick(tick: int, camera: Pose | None, avatars: NDArray[Any]) -> bytes:
    """One aggregated frame: header, optional guide camera, then AVATAR_DTYPE rows."""
    header = _TICK_HEADER.pack(
        FRAME_TICK, tick & 0xFFFFFFFF, TICK_HAS_CAMERA if camera else 0, len(avatars)
    )
    return header + (camera.pack() if camera else b"") + avatars.tobytes()


def decode_tick(data: bytes) -> tuple[int, Pose | None, NDArray[Any]]:
    kind, tick, flags, count = _TICK_HEADER.unpack_from(data)
    if kind != FRAME_TICK:
        raise ProtocolError("bad_frame", f"not a tick frame: kind {kind}")
    offset = _TICK_HEADER.size
    camera = None
    if flags & TICK_HAS_CAMERA:
        x, y, z, qx, qy, qz, qw = _POSE.unpack_from(data, offset)
        camera = Pose((x, y, z), (qx, qy, qz, qw))
        offset += _POSE.size
    avatars = np.frombuffer(data, dtype=AVATAR_DTYPE, count=count, offset=offset)
    return tick, camera, avatars


# --- JSON control frames ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    token: str
    name: str | None
    resume_epoch: str | None
    resume_seq: int | None


def parse_json(text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError as error:
        raise ProtocolError("bad_json", f"not JSON: {error}") from error
    except RecursionError:
        # CPython's decoder gives up on ~1,000 nested arrays with RecursionError, not
        # ValueError: unhandled, it failed the handshake, or closed a client as if it left
        raise ProtocolError("bad_json", "not JSON: nested too deeply") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("bad_message", 'a control frame is an object with a "type"')
    if "\\u" in text and (problem := _unstorable_text(message)) is not None:
        raise ProtocolError("bad_json", problem)
    return message


def _unstorable_text(message: dict[str, Any]) -> str | None:
    r"""Why a string in ``message`` cannot be sent on or stored, if one cannot. Only escapes
    can produce these (raw control characters are not JSON):
    - "\ud800" decodes to half a UTF-16 pair, which UTF-8 cannot carry: echoed in a chat it
      failed to encode and stopped the session's events for everyone;
    - "\u0000" is a NUL, which PostgreSQL's text cannot hold: a moderation reason with one
      failed to save, so the ban was lost at the next restart."""
    pending: list[Any] = [message]
    while pending:  # iterative: the message may be nested almost as deep as json allows
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "not storable text: a NUL character (\\u0000)"
            try:
                value.encode()
            except UnicodeEncodeError:
                return "not JSON text: an unpaired surrogate escape"
    return None


def parse_hello(text: str) -> Hello:
    message = parse_json(text)
    if message["type"] != "hello":
        raise ProtocolError("bad_message", 'the first frame must be {"type":"hello",...}')
    # a missing token is the ticket check's to refuse (4401, "get a new ticket"), as the
    # protocol documents; it used to close as a malformed hello (4400)
    token = message.get("token")
    if token is None:
        token = ""
    if not isinstance(token, str):
        raise ProtocolError("bad_message", "hello.token must be a string")
    name = message.get("name")
    if name is not None:
        name = text_field(message, "name", MAX_NAME_CHARS)  # others will see it
    resume = message.get("resume")
    epoch = seq = None
    if resume is not None:
        if (
            not isinstance(resume, dict)
            or not isinstance(resume.get("epoch"), str)
            or not isinstance(resume.get("seq"), int)
            or resume["seq"] < 0
        ):
            raise ProtocolError(
                "bad_message", "hello.resume must be {epoch: string, seq: int >= 0}"
            )
        epoch, seq = resume["epoch"], resume["seq"]
    return Hello(token, name, epoch, seq)


def text_field(message: dict[str, Any], field: str, max_chars: int) -> str:
    """A required, trimmed, non-empty string of at most ``max_chars`` characters."""
    value = message.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError("bad_message", f"{message['type']}.{field} must be a non-empty string")
    value = value.strip()
    if len(value) > max_chars:
        raise ProtocolError(
            "too_long", f"{message['type']}.{field} is {len(value)} characters; at most {max_chars}"
        )
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise ProtocolError("bad_message", f"{message['type']}.{field} holds control characters")
    return value


def int_field(message: dict[str, Any], field: str) -> int:
    value = message.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError("bad_message", f"{message['type']}.{field} must be an integer >= 0")
    return value


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
