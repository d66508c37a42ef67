"""GraphQL subscriptions: a live session's low-rate events (status, polls, announcements,
spotlight, scene), for clients that do not speak the live protocol. Served over the
graphql-transport-ws WebSocket protocol at /graphql."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import Enum
from typing import Any

import strawberry

from backend.api.publishing import PublishingSubscription
from backend.api.types.common import LiveSessionStatusEnum
from backend.api.types.objects import CtxInfo
from backend.domain.live_session import LiveSessionStatus

# Operations one graphql-transport-ws connection may have running at once. Past it,
# strawberry's GraphQLRouter answers a subscribe with an `error` message for that id
# ("Subscription limit reached") and keeps the others running. create_app passes it to
# the router (`max_subscriptions_per_connection`), so a strawberry upgrade cannot change
# it silently; tests/hostile/test_live_attacks.py holds the running service to it.
MAX_SUBSCRIPTIONS_PER_CONNECTION = 100


@strawberry.enum(description="What happened in a live session.")
class LiveSessionEventKind(Enum):
    STATUS = "status"
    POLL_OPENED = "poll"
    POLL_TALLY = "poll.tally"
    POLL_CLOSED = "poll.closed"
    ANNOUNCEMENT = "announcement"
    SPOTLIGHT = "spotlight"
    SCENE = "scene"


@strawberry.type(description="A poll of a live session with its server-owned tally.")
class LivePoll:
    id: int
    question: str
    options: list[str]
    tally: list[int] = strawberry.field(description="Votes per option, in option order.")
    open: bool


@strawberry.type(description="What the guide switched everyone to.")
class LiveSceneState:
    layer: str | None
    scenario: str | None
    time: str | None


@strawberry.type(description="One event of a live session, numbered like the live protocol.")
class LiveSessionEvent:
    kind: LiveSessionEventKind
    seq: int = strawberry.field(description="The session's event number (docs/live-protocol.md).")
    status: LiveSessionStatusEnum | None = None
    poll: LivePoll | None = None
    text: str | None = strawberry.field(default=None, description="An announcement's text.")
    poi_id: strawberry.ID | None = strawberry.field(
        default=None, description="The spotlit POI (null: spotlight off)."
    )
    scene: LiveSceneState | None = None


def _poll(data: dict[str, Any]) -> LivePoll:
    return LivePoll(
        id=int(data["id"]),
        question=str(data["question"]),
        options=[str(o) for o in data["options"]],
        tally=[int(t) for t in data["tally"]],
        open=bool(data["open"]),
    )


def to_event(frame: dict[str, Any], poll_state: dict[str, Any] | None) -> LiveSessionEvent:
    kind = LiveSessionEventKind(frame["type"])
    event = LiveSessionEvent(kind=kind, seq=int(frame["seq"]))
    if kind is LiveSessionEventKind.STATUS:
        # strawberry's enum wrapper is a value, not a type, to mypy: the domain enum is it
        event.status = LiveSessionStatus(frame["status"])  # type: ignore[assignment]
    elif kind in (LiveSessionEventKind.POLL_OPENED, LiveSessionEventKind.POLL_CLOSED):
        event.poll = _poll(frame["poll"])
    elif kind is LiveSessionEventKind.POLL_TALLY and poll_state is not None:
        event.poll = _poll({**poll_state, "tally": frame["tally"]})
    elif kind is LiveSessionEventKind.ANNOUNCEMENT:
        event.text = str(frame["text"])
    elif kind is LiveSessionEventKind.SPOTLIGHT:
        event.poi_id = strawberry.ID(frame["poi"]) if frame["poi"] is not None else None
    elif kind is LiveSessionEventKind.SCENE:
        scene = frame["scene"]
        event.scene = LiveSceneState(
            layer=scene.get("layer"), scenario=scene.get("scenario"), time=scene.get("time")
        )
    return event


@strawberry.type
class Subscription(PublishingSubscription):
    @strawberry.subscription(
        description="A live session's status changes, polls and tallies, announcements, "
        "spotlight and scene switches as they happen. Completes when the session ends; "
        "completes at once for an unknown session."
    )
    async def live_session_events(
        self, info: CtxInfo, id: strawberry.ID
    ) -> AsyncGenerator[LiveSessionEvent, None]:
        live = info.context.live
        if live is None:
            return
        async for frame in live.events(str(id)):
            poll_id = frame.get("poll") if frame["type"] == "poll.tally" else None
            state = live.poll(str(id), int(poll_id)) if poll_id is not None else None
            yield to_event(frame, state)
