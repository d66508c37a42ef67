"""The live-session core: the rules of one session as a sans-I/O state machine.

Events go in (a connection joined, a text or binary frame arrived, the hub delivered an
ordered event, the clock ticked); outputs come out (``Send`` to one connection,
``Broadcast`` to the local ones, ``Close``, ``Publish`` for the hub to order, ``Record``
for the audit log). No sockets, no clock, no Redis: transports and hubs are adapters
(``backend.live.transport``, ``backend.live.hub``), in the style of websockets' protocol
core.

Two kinds of traffic:
  * reliable, ordered events (chat, Q&A, polls, moderation, spotlight, scene switch,
    announcements, status) are validated here, then ``Publish``ed; the hub puts every
    instance's events into one order and hands them back to ``apply`` on every instance,
    which changes the state and numbers the visible ones with a per-session ``seq``. Each
    instance applies the same events in the same order, so tallies, bans and seqs agree.
  * lossy, latest-wins state (avatar poses, the guide's camera, reaction counts) is kept
    here and sent once per ``tick`` as one aggregated frame per client, never relayed
    frame-by-frame (N² messages).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from backend.live.crowd import Crowd
from backend.live.limits import ABUSE_STRIKES, DEFAULT_RATES, Rate, TokenBucket
from backend.live.outputs import (
    Broadcast,
    Close,
    ConnId,
    Output,
    Publish,
    Record,
    Send,
    ShareState,
)
from backend.live.participation import Frame, Participation, Rejection
from backend.live.protocol import (
    CLOSE_ABUSE,
    CLOSE_BANNED,
    CLOSE_FULL,
    CLOSE_KICKED,
    CLOSE_NOT_LIVE,
    CLOSE_REPLACED,
    CLOSE_TRY_AGAIN,
    FRAME_CAMERA,
    MAX_CHAT_CHARS,
    MAX_POLL_OPTIONS,
    MAX_POLL_TEXT_CHARS,
    MAX_QUESTION_CHARS,
    REACTIONS,
    Hello,
    ProtocolError,
    decode_client_frame,
    dumps,
    int_field,
    parse_json,
    text_field,
)
from backend.live.tokens import JoinClaims, Role


class Tier(str, Enum):
    AVATAR = "avatar"  # has an avatar others see
    SPECTATOR = "spectator"  # overflow audience: guide, chat, polls, Q&A, no avatar


@dataclass(frozen=True, slots=True)
class RoomConfig:
    tick_hz: float = 10.0
    overflow_capacity: int = 10_000  # spectators beyond the avatar capacity
    near_avatars: int = 32  # sent at full rate; the rest every `far_every_ticks` ticks
    far_every_ticks: int = 5
    large_room: int = 100  # above this, presence frames carry counts, not names
    history: int = 1_000  # visible events kept for resuming clients
    instance_timeout_s: float = 10.0  # another instance silent this long is gone
    # the guide's camera is forwarded at once, at most this often (above a 20 Hz guide with
    # jitter, so its frames are not thinned; faster ones wait for the tick, latest-wins)
    camera_hz: float = 30.0
    chat_on_join: int = 50
    rates: dict[str, Rate] = field(default_factory=lambda: dict(DEFAULT_RATES))


@dataclass(slots=True)
class Member:
    id: int
    name: str
    role: Role
    tier: Tier
    conn: ConnId | None  # None: connected to another instance
    instance: str = ""
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    strikes: int = 0

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role.value, "tier": self.tier.value}


class LiveRoom:
    """One live session on one instance: its local connections and the shared state."""

    def __init__(
        self,
        session_id: str,
        *,
        status: str,
        capacity: int,
        epoch: str,
        banned: set[int] | None = None,
        config: RoomConfig | None = None,
        instance: str = "local",
    ) -> None:
        self.session_id = session_id
        self.instance = instance
        self.status = status
        self.capacity = capacity
        self.epoch = epoch
        self.config = config or RoomConfig()
        self.members: dict[int, Member] = {}
        self.by_conn: dict[ConnId, Member] = {}
        self.banned: set[int] = set(banned or ())
        self.muted: set[int] = set()
        self.seq = 0
        self.history: deque[tuple[int, str]] = deque(maxlen=self.config.history)
        self.chat: deque[str] = deque(maxlen=self.config.chat_on_join)
        self.participation = Participation()
        self.crowd = Crowd(
            near=self.config.near_avatars,
            far_every=self.config.far_every_ticks,
            instance_timeout_ticks=round(self.config.instance_timeout_s * self.config.tick_hz),
        )
        self.spotlight: str | None = None
        self.scene_state: dict[str, Any] = {}
        self.reactions: Counter[str] = Counter()  # this instance's, since the last tick
        self.remote_reactions: Counter[str] = Counter()
        self.tick_count = 0
        self._camera_sent_s = float("-inf")
        self._joined: list[Member] = []
        self._left: list[Member] = []

    # --- connections --------------------------------------------------------------------

    def refusal(self, conn: ConnId, claims: JoinClaims) -> Close | None:
        """Why this member may not come in at all, before any seat is taken for them."""
        if claims.member_id in self.banned:
            return Close(conn, CLOSE_BANNED, "you are banned from this session")
        if self.status != "live":
            return Close(conn, CLOSE_NOT_LIVE, f"the session is {self.status}")
        return None

    def connect(
        self,
        conn: ConnId,
        claims: JoinClaims,
        hello: Hello,
        now_s: float,
        seat: Tier | None = None,
    ) -> list[Output]:
        """A client with a verified token said hello: welcome it, or close with a reason.
        ``seat`` is the tier an atomic admission across instances gave it (the Redis hub);
        without one the room admits by its own count, which is atomic on one instance."""
        refused = self.refusal(conn, claims)
        if refused is not None:
            return [refused]
        outputs: list[Output] = []
        previous = self.members.get(claims.member_id)
        if previous is not None and previous.conn is not None:
            # the same member again (a reload, a second tab): latest connection wins
            self.by_conn.pop(previous.conn, None)
            outputs.append(Close(previous.conn, CLOSE_REPLACED, "connected again elsewhere"))
            tier = previous.tier
        elif previous is not None:
            tier = previous.tier
        elif seat is not None:
            tier = seat
        else:
            admitted = self._admit(claims.role)
            if admitted is None:
                return [Close(conn, CLOSE_FULL, "the session is full")]
            tier = admitted
        name = (hello.name or claims.name or f"guest-{claims.member_id % 10000}").strip()[:40]
        member = Member(claims.member_id, name, claims.role, tier, conn, self.instance)
        member.buckets = {k: TokenBucket.full(r, now_s) for k, r in self.config.rates.items()}
        self.members[member.id] = member
        self.by_conn[conn] = member
        if previous is None:
            self._joined.append(member)
            outputs.append(
                Publish({"kind": "join", "member": member.public(), "instance": self.instance})
            )
        outputs.extend(self._welcome(member, hello))
        return outputs

    def disconnect(self, conn: ConnId) -> list[Output]:
        member = self.by_conn.pop(conn, None)
        if member is None or member.conn != conn:
            return []
        del self.members[member.id]
        self.crowd.poses.pop(member.id, None)
        self._left.append(member)
        return [Publish({"kind": "leave", "member": member.id})]

    def _admit(self, role: Role) -> Tier | None:
        """Avatar if there is room, else spectator if the overflow has room, else None.
        Staff always get in with an avatar: a full room still needs its guide."""
        avatars = sum(1 for m in self.members.values() if m.tier is Tier.AVATAR)
        if role.is_staff or avatars < self.capacity:
            return Tier.AVATAR
        spectators = len(self.members) - avatars
        return Tier.SPECTATOR if spectators < self.config.overflow_capacity else None

    def _welcome(self, member: Member, hello: Hello) -> list[Output]:
        assert member.conn is not None
        replay: list[str] | None = None
        if hello.resume_epoch is not None and hello.resume_seq is not None:
            replay = self._missed_since(hello.resume_epoch, hello.resume_seq)
        welcome = {
            "type": "welcome",
            "you": member.public(),
            "session": {
                "id": self.session_id,
                "status": self.status,
                "epoch": self.epoch,
                "seq": self.seq,
            },
            "presence": self._presence_snapshot(),
            "guide": {
                "camera": self.crowd.camera.as_json() if self.crowd.camera else None,
                "spotlight": self.spotlight,
                "scene": self.scene_state,
            },
            "chat": [parse_json(frame) for frame in self.chat],
            "polls": [p.public() for p in self.participation.polls.values()],
            "questions": self.participation.open_questions(),
            "muted": member.id in self.muted,
        }
        if hello.resume_epoch is not None:
            welcome["recovered"] = replay is not None
        outputs: list[Output] = [Send(member.conn, dumps(welcome))]
        outputs += [Send(member.conn, frame) for frame in replay or ()]
        return outputs

    def _missed_since(self, epoch: str, seq: int) -> list[str] | None:
        """Every visible frame after ``seq``, or None when that cannot be done exactly (another
        epoch, a seq from the future, or frames already gone from the history)."""
        if epoch != self.epoch or seq > self.seq:
            return None
        if seq == self.seq:
            return []
        oldest = self.history[0][0] if self.history else self.seq + 1
        if seq + 1 < oldest:
            return None
        return [frame for s, frame in self.history if s > seq]

    def _presence_snapshot(self) -> dict[str, Any]:
        avatars = sum(1 for m in self.members.values() if m.tier is Tier.AVATAR)
        snapshot: dict[str, Any] = {
            "count": len(self.members),
            "avatars": avatars,
            "spectators": len(self.members) - avatars,
        }
        if len(self.members) <= self.config.large_room:
            snapshot["members"] = [m.public() for m in self.members.values()]
        return snapshot

    # --- frames from clients ------------------------------------------------------------

    def receive_text(self, conn: ConnId, text: str, now_s: float) -> list[Output]:
        member = self.by_conn.get(conn)
        if member is None:
            return []
        try:
            message = parse_json(text)
        except ProtocolError as error:
            # malformed frames pay like control frames: else a flood of them was answered
            # with one error each, without limit, and never counted as abuse
            refused = self._throttle(member, "control", now_s)
            return (
                refused if refused is not None else self._error(member, error.code, error.message)
            )
        try:
            kind = message["type"]
            bucket = "chat" if kind == "chat" else "reaction" if kind == "react" else "control"
            refused = self._throttle(member, bucket, now_s)
            if refused is not None:
                return refused
            if self.status != "live":
                return self._error(member, "session_not_live", f"the session is {self.status}")
            handler = self._COMMANDS.get(kind)
            if handler is None:
                return self._error(member, "unknown_type", f"unknown message type {kind!r}")
            return handler(self, member, message, now_s)
        except ProtocolError as error:
            return self._error(member, error.code, error.message)

    def receive_binary(self, conn: ConnId, data: bytes, now_s: float) -> list[Output]:
        member = self.by_conn.get(conn)
        if member is None:
            return []
        # before decoding: malformed binary frames are limited like poses, not answered
        # with one error each, without limit
        if not member.buckets["pose"].take(now_s):
            return self._refuse(member, "rate_limited", "too many pose frames; at most 20 Hz")
        try:
            kind, pose = decode_client_frame(data)
        except ProtocolError as error:
            return self._error(member, error.code, error.message)
        if kind == FRAME_CAMERA:
            if member.role not in (Role.HOST, Role.GUIDE):
                return self._error(member, "forbidden", "only the host or a guide leads the camera")
            self.crowd.set_camera(pose, self.tick_count)
            if now_s - self._camera_sent_s < 1.0 / self.config.camera_hz:
                return []  # latest wins: the next tick carries it
            # followers get the guide's camera at once, not up to a tick later
            self._camera_sent_s = now_s
            return [Broadcast(self.crowd.camera_frame(self.tick_count))]
        if member.tier is not Tier.AVATAR:
            return self._error(member, "no_avatar", "spectators have no avatar to move")
        self.crowd.poses[member.id] = pose
        return []

    def _throttle(self, member: Member, bucket: str, now_s: float) -> list[Output] | None:
        """None when a text frame may go on (ending a run of refusals), else what refusing
        it sends."""
        if not member.buckets[bucket].take(now_s):
            return self._refuse(member, "rate_limited", f"too many {bucket} messages; slow down")
        member.strikes = 0
        return None

    def _refuse(self, member: Member, code: str, message: str) -> list[Output]:
        member.strikes += 1
        if member.strikes >= ABUSE_STRIKES and member.conn is not None:
            return [Close(member.conn, CLOSE_ABUSE, "flooding")]
        # tell once per burst, not once per dropped frame
        return self._error(member, code, message) if member.strikes == 1 else []

    def _error(self, member: Member, code: str, message: str, ref: Any = None) -> list[Output]:
        if member.conn is None:
            return []
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if ref is not None:
            frame["ref"] = ref
        return [Send(member.conn, dumps(frame))]

    def _require(self, member: Member, *roles: Role) -> None:
        if member.role not in roles:
            names = " or ".join(r.value for r in roles)
            raise ProtocolError("forbidden", f"only a {names} may do that")

    def _event(self, actor: Member, kind: str, now_s: float, **fields: Any) -> list[Output]:
        return [Publish({"kind": kind, "by": actor.public(), "ts": round(now_s, 3), **fields})]

    def _chat(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        text = text_field(message, "text", MAX_CHAT_CHARS)
        if member.id in self.muted:
            return self._error(member, "muted", "a moderator muted you")
        return self._event(member, "chat", now_s, text=text)

    def _react(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        emoji = message.get("emoji")
        if emoji not in REACTIONS:
            raise ProtocolError("bad_message", f"react.emoji must be one of {' '.join(REACTIONS)}")
        self.reactions[emoji] += 1  # coalesced: sent as counts with the next tick
        return []

    def _ask(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        text = text_field(message, "text", MAX_QUESTION_CHARS)
        if member.id in self.muted:
            return self._error(member, "muted", "a moderator muted you")
        return self._event(member, "question", now_s, text=text)

    def _upvote(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        return self._event(member, "upvote", now_s, question=int_field(message, "question"))

    def _answer(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        self._require(member, Role.HOST, Role.MODERATOR, Role.GUIDE)
        return self._event(member, "answered", now_s, question=int_field(message, "question"))

    def _poll_open(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        self._require(member, Role.HOST)
        question = text_field(message, "question", MAX_POLL_TEXT_CHARS)
        options = message.get("options")
        if (
            not isinstance(options, list)
            or not 2 <= len(options) <= MAX_POLL_OPTIONS
            or not all(isinstance(o, str) and o.strip() for o in options)
        ):
            raise ProtocolError(
                "bad_message", f"poll.open.options must be 2..{MAX_POLL_OPTIONS} non-empty strings"
            )
        if any(len(o) > MAX_POLL_TEXT_CHARS for o in options):
            raise ProtocolError(
                "too_long", f"a poll option has more than {MAX_POLL_TEXT_CHARS} characters"
            )
        return self._event(
            member, "poll", now_s, question=question, options=[o.strip() for o in options]
        )

    def _vote(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        return self._event(
            member,
            "vote",
            now_s,
            poll=int_field(message, "poll"),
            option=int_field(message, "option"),
        )

    def _poll_close(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        self._require(member, Role.HOST)
        return self._event(member, "poll_closed", now_s, poll=int_field(message, "poll"))

    def _spotlight(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        self._require(member, Role.HOST, Role.GUIDE)
        poi = message.get("poi")
        if poi is not None and (not isinstance(poi, str) or not 0 < len(poi) <= 200):
            raise ProtocolError("bad_message", "spotlight.poi must be a POI id or null")
        return self._event(member, "spotlight", now_s, poi=poi)

    def _switch(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        self._require(member, Role.HOST, Role.GUIDE)
        changes = {k: message[k] for k in ("layer", "scenario", "time") if k in message}
        if not changes or not all(
            v is None or (isinstance(v, str) and len(v) <= 200) for v in changes.values()
        ):
            raise ProtocolError(
                "bad_message", "scene.switch needs layer, scenario or time as strings"
            )
        return self._event(member, "scene", now_s, changes=changes)

    def _announce(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        self._require(member, Role.HOST, Role.GUIDE)
        return self._event(
            member, "announcement", now_s, text=text_field(message, "text", MAX_CHAT_CHARS)
        )

    def _moderate(self, member: Member, message: dict[str, Any], now_s: float) -> list[Output]:
        self._require(member, Role.HOST, Role.MODERATOR)
        action = message.get("action")
        if action not in ("mute", "unmute", "kick", "ban", "unban"):
            raise ProtocolError(
                "bad_message", "moderate.action must be mute, unmute, kick, ban or unban"
            )
        target_id = int_field(message, "member")
        target = self.members.get(target_id)
        if target is not None and target.role.is_staff:
            raise ProtocolError("forbidden", "staff cannot be moderated from inside the session")
        if target is None and action not in ("ban", "unban"):
            return self._error(member, "not_found", f"member {target_id} is not here")
        reason = message.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise ProtocolError(
                "bad_message", "moderate.reason must be a string of at most 200 characters"
            )
        return self._event(
            member, "moderation", now_s, action=action, member=target_id, reason=reason
        )

    _COMMANDS: ClassVar[dict[str, Callable[..., list[Output]]]] = {
        "chat": _chat,
        "react": _react,
        "question.ask": _ask,
        "question.upvote": _upvote,
        "question.answer": _answer,
        "poll.open": _poll_open,
        "poll.vote": _vote,
        "poll.close": _poll_close,
        "spotlight": _spotlight,
        "scene.switch": _switch,
        "announce": _announce,
        "moderate": _moderate,
    }

    # --- ordered events from the hub ----------------------------------------------------

    def apply(self, event: dict[str, Any]) -> list[Output]:
        """Apply one event in the hub's order; the same on every instance."""
        kind = event["kind"]
        if kind == "epoch":
            return self._apply_epoch(str(event["epoch"]))
        if kind == "join":
            return self._apply_join(event["member"], str(event.get("instance", "")))
        if kind == "leave":
            return self._apply_leave(int(event["member"]))
        if kind == "status":
            return self._apply_status(str(event["status"]))
        if self.status != "live":
            return []  # nothing is accepted after the end, even if it was in flight
        applier = self._APPLIERS.get(kind)
        return applier(self, event) if applier is not None else []

    def _visible(self, frame: dict[str, Any]) -> list[Output]:
        """Number a frame everyone sees, keep it for resumes, send it to local clients."""
        self.seq += 1
        text = dumps({**frame, "seq": self.seq})
        self.history.append((self.seq, text))
        if frame["type"] == "chat":
            self.chat.append(text)
        return [Broadcast(text)]

    def _origin_error(self, event: dict[str, Any], code: str, message: str) -> list[Output]:
        member = self.members.get(int(event["by"]["id"]))
        return self._error(member, code, message) if member is not None else []

    def _apply_epoch(self, epoch: str) -> list[Output]:
        """The hub lost its history (a Redis restart): numbering starts again. Clients
        reconnect and, resuming from the old epoch, are told ``recovered: false`` and get
        the snapshot, which this instance still holds: no acknowledged message is lost."""
        if epoch == self.epoch:
            return []
        self.epoch = epoch
        self.seq = 0
        self.history.clear()
        return [
            Close(conn, CLOSE_TRY_AGAIN, "live history reset: reconnect and resume")
            for conn in list(self.by_conn)
        ]

    def _apply_join(self, public: dict[str, Any], instance: str) -> list[Output]:
        if int(public["id"]) not in self.members:  # joined on another instance
            member = Member(
                int(public["id"]),
                public["name"],
                Role(public["role"]),
                Tier(public["tier"]),
                None,
                instance,
            )
            self.members[member.id] = member
            self._joined.append(member)
        return []

    def _apply_leave(self, member_id: int) -> list[Output]:
        member = self.members.get(member_id)
        if member is not None and member.conn is None:  # left another instance
            del self.members[member_id]
            self._left.append(member)
        return []

    def _apply_status(self, status: str) -> list[Output]:
        self.status = status
        outputs = self._visible({"type": "status", "status": status})
        if status != "live":
            outputs += [
                Close(c, CLOSE_NOT_LIVE, f"the session is {status}") for c in list(self.by_conn)
            ]
        return outputs

    def _apply_chat(self, event: dict[str, Any]) -> list[Output]:
        if int(event["by"]["id"]) in self.muted:
            return self._origin_error(event, "muted", "a moderator muted you")
        return self._visible(
            {"type": "chat", "from": event["by"], "text": event["text"], "ts": event["ts"]}
        )

    def _apply_participation(self, event: dict[str, Any]) -> list[Output]:
        """Q&A and polls: the frame everyone sees, or an error for the one who asked."""
        kind, by = event["kind"], event["by"]
        p = self.participation
        result: Frame | Rejection
        if kind == "question":
            result = p.ask(by, event["text"], event["ts"])
        elif kind == "upvote":
            result = p.upvote(int(event["question"]), int(by["id"]))
        elif kind == "answered":
            result = p.answer(int(event["question"]), by)
        elif kind == "poll":
            result = p.open_poll(event["question"], event["options"])
        elif kind == "vote":
            result = p.vote(int(event["poll"]), int(by["id"]), int(event["option"]))
        else:
            result = p.close_poll(int(event["poll"]))
        if isinstance(result, Rejection):
            return self._origin_error(event, result.code, result.message)
        return self._visible(result)

    def _apply_spotlight(self, event: dict[str, Any]) -> list[Output]:
        self.spotlight = event["poi"]
        return self._visible({"type": "spotlight", "poi": event["poi"], "by": event["by"]})

    def _apply_scene(self, event: dict[str, Any]) -> list[Output]:
        self.scene_state = {**self.scene_state, **event["changes"]}
        return self._visible({"type": "scene", "scene": self.scene_state, "by": event["by"]})

    def _apply_announcement(self, event: dict[str, Any]) -> list[Output]:
        return self._visible(
            {"type": "announcement", "text": event["text"], "from": event["by"], "ts": event["ts"]}
        )

    def _apply_moderation(self, event: dict[str, Any]) -> list[Output]:
        action, target_id = event["action"], int(event["member"])
        if action == "mute":
            self.muted.add(target_id)
        elif action == "unmute":
            self.muted.discard(target_id)
        elif action == "ban":
            self.banned.add(target_id)
        elif action == "unban":
            self.banned.discard(target_id)
        outputs: list[Output] = [
            Record(
                {
                    "session": self.session_id,
                    "action": action,
                    "member": target_id,
                    "by": event["by"],
                    "reason": event.get("reason"),
                    "ts": event["ts"],
                }
            )
        ]
        outputs += self._visible({"type": "moderation", "action": action, "member": target_id})
        target = self.members.get(target_id)
        if target is not None and target.conn is not None and action in ("kick", "ban"):
            code = CLOSE_BANNED if action == "ban" else CLOSE_KICKED
            outputs.append(
                Close(
                    target.conn,
                    code,
                    f"a moderator {'banned' if action == 'ban' else 'removed'} you",
                )
            )
        return outputs

    _APPLIERS: ClassVar[dict[str, Callable[..., list[Output]]]] = {
        "chat": _apply_chat,
        "question": _apply_participation,
        "upvote": _apply_participation,
        "answered": _apply_participation,
        "poll": _apply_participation,
        "vote": _apply_participation,
        "poll_closed": _apply_participation,
        "spotlight": _apply_spotlight,
        "scene": _apply_scene,
        "announcement": _apply_announcement,
        "moderation": _apply_moderation,
    }

    # --- the clock ----------------------------------------------------------------------

    def tick(self) -> list[Output]:
        """Once per 1/tick_hz: poses and camera, presence changes, reaction counts, and
        this instance's state for the others (also its heartbeat)."""
        self.tick_count += 1
        outputs: list[Output] = [ShareState(self.crowd.share(self.tick_count, self.reactions))]
        for instance in self.crowd.expired(self.tick_count):
            self._forget_instance(instance)
        if self._joined or self._left:
            outputs.append(Broadcast(dumps(self._presence_delta())))
        reactions = self.reactions + self.remote_reactions
        if reactions:
            outputs.append(Broadcast(dumps({"type": "reactions", "counts": dict(reactions)})))
        self.reactions.clear()
        self.remote_reactions.clear()
        posed = {
            conn: m.id
            for conn, m in self.by_conn.items()
            if m.tier is Tier.AVATAR and m.id in self.crowd.poses
        }
        others = [conn for conn in self.by_conn if conn not in posed]
        personal, shared = self.crowd.frames(self.tick_count, posed, others)
        outputs += [Send(conn, frame) for conn, frame in personal]
        if shared is not None:
            outputs.append(Broadcast(shared, frozenset(others)))
        return outputs

    def receive_state(self, instance: str, state: bytes) -> list[Output]:
        """Another instance's lossy state (see ``ShareState``)."""
        if instance != self.instance:
            self.remote_reactions += self.crowd.receive(instance, state, self.tick_count)
        return []

    def _forget_instance(self, instance: str) -> None:
        """Members of an instance that went silent have left, as far as we can tell; every
        instance concludes the same from the same silence."""
        for member in [
            m for m in self.members.values() if m.conn is None and m.instance == instance
        ]:
            del self.members[member.id]
            self._left.append(member)

    def _presence_delta(self) -> dict[str, Any]:
        frame = {"type": "presence", **self._presence_snapshot()}
        frame.pop("members", None)
        if len(self.members) <= self.config.large_room:
            frame["joined"] = [m.public() for m in self._joined]
            frame["left"] = [m.id for m in self._left]
        self._joined.clear()
        self._left.clear()
        return frame
