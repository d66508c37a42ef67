"""Organiser mutations. Each checks the role, converts input, and calls one use case."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from backend.api.access import denied, scene_of
from backend.api.errors import (
    ConflictError,
    ErrorCode,
    IllegalTransitionError,
    InvalidArgumentError,
    NotAuthorizedError,
    NotFoundError,
    RateLimitedError,
    from_domain,
)
from backend.api.identity import IdentityMutation
from backend.api.inputs import (
    LiveSessionInput,
    PoiInput,
    TourInput,
    to_live_session,
    to_poi,
    to_tour,
)
from backend.api.participation import ParticipationMutation
from backend.api.publishing import PublishingMutation
from backend.api.stamps import StampMutation
from backend.api.types.common import LiveRoleEnum, LiveSessionStatusEnum
from backend.api.types.objects import CtxInfo, LiveSessionType, PoiType, TourType
from backend.domain.errors import DomainError, RateLimited
from backend.domain.identity import Action
from backend.domain.ids import new_key, split_qualified_id
from backend.domain.live_session import LiveSessionStatus
from backend.domain.quotas import LIVE_JOINS
from backend.live.hub import HubUnavailable
from backend.live.tokens import Role
from backend.observability import log
from backend.quota_stores import spend
from backend.services import catalog, live_sessions

_Failure = NotFoundError | InvalidArgumentError | ConflictError | NotAuthorizedError

PoiMutationResult = Annotated[PoiType | _Failure, strawberry.union("PoiMutationResult")]
TourMutationResult = Annotated[TourType | _Failure, strawberry.union("TourMutationResult")]
LiveSessionMutationResult = Annotated[
    LiveSessionType | _Failure | IllegalTransitionError,
    strawberry.union("LiveSessionMutationResult"),
]


@strawberry.type
class DeletedPoi:
    id: strawberry.ID


DeletePoiResult = Annotated[DeletedPoi | _Failure, strawberry.union("DeletePoiResult")]

KEY_DESCRIPTION = "Key unique within the scene ([a-z0-9-]); generated when absent."


@strawberry.type
class Mutation(IdentityMutation, PublishingMutation, ParticipationMutation, StampMutation):
    @strawberry.mutation(description="Create a POI in a scene (organisers).")
    async def create_poi(
        self,
        info: CtxInfo,
        scene_slug: str,
        input: PoiInput,
        key: Annotated[str | None, strawberry.argument(description=KEY_DESCRIPTION)] = None,
    ) -> PoiMutationResult:
        if (refused := await denied(info, Action.EDIT_CONTENT, scene_slug)) is not None:
            return refused
        try:
            poi = to_poi(scene_slug, key or new_key("poi"), input)
            return PoiType(poi=await catalog.create_poi(info.context.store, poi))
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.mutation(description="Replace a POI's content (organisers).")
    async def update_poi(
        self, info: CtxInfo, id: strawberry.ID, input: PoiInput
    ) -> PoiMutationResult:
        if (refused := await denied(info, Action.EDIT_CONTENT, scene_of(id))) is not None:
            return refused
        try:
            scene_slug, key = split_qualified_id("id", id)
            poi = to_poi(scene_slug, key, input)
            return PoiType(poi=await catalog.update_poi(info.context.store, id, poi))
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.mutation(description="Delete a POI no tour visits (organisers).")
    async def delete_poi(self, info: CtxInfo, id: strawberry.ID) -> DeletePoiResult:
        if (refused := await denied(info, Action.EDIT_CONTENT, scene_of(id))) is not None:
            return refused
        try:
            await catalog.delete_poi(info.context.store, id)
            return DeletedPoi(id=id)
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.mutation(description="Create a tour through POIs of one scene (organisers).")
    async def create_tour(
        self,
        info: CtxInfo,
        scene_slug: str,
        input: TourInput,
        key: Annotated[str | None, strawberry.argument(description=KEY_DESCRIPTION)] = None,
    ) -> TourMutationResult:
        if (refused := await denied(info, Action.EDIT_CONTENT, scene_slug)) is not None:
            return refused
        try:
            tour = to_tour(scene_slug, key or new_key("tour"), input)
            return TourType(tour=await catalog.create_tour(info.context.store, tour))
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.mutation(description="Replace a tour's content and stops (organisers).")
    async def update_tour(
        self, info: CtxInfo, id: strawberry.ID, input: TourInput
    ) -> TourMutationResult:
        if (refused := await denied(info, Action.EDIT_CONTENT, scene_of(id))) is not None:
            return refused
        try:
            scene_slug, key = split_qualified_id("id", id)
            tour = to_tour(scene_slug, key, input)
            return TourType(tour=await catalog.update_tour(info.context.store, id, tour))
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Create a scheduled live session; it must start in the future."
    )
    async def create_live_session(
        self,
        info: CtxInfo,
        scene_slug: str,
        input: LiveSessionInput,
        key: Annotated[str | None, strawberry.argument(description=KEY_DESCRIPTION)] = None,
    ) -> LiveSessionMutationResult:
        if (refused := await denied(info, Action.RUN_LIVE_SESSIONS, scene_slug)) is not None:
            return refused
        try:
            session = to_live_session(scene_slug, key or new_key("live"), input)
            created = await live_sessions.create_live_session(info.context.store, session)
            return LiveSessionType(session=created)
        except DomainError as error:
            return from_domain(error)

    @strawberry.mutation(description="Move a scheduled session to new times in the future.")
    async def schedule_live_session(
        self, info: CtxInfo, id: strawberry.ID, starts_at: datetime, ends_at: datetime
    ) -> LiveSessionMutationResult:
        if (refused := await denied(info, Action.RUN_LIVE_SESSIONS, scene_of(id))) is not None:
            return refused
        try:
            updated = await live_sessions.reschedule_live_session(
                info.context.store, id, starts_at, ends_at
            )
            return LiveSessionType(session=updated)
        except DomainError as error:
            return from_domain(error)

    @strawberry.mutation(
        description="Lifecycle: SCHEDULED → LIVE → ENDED, or SCHEDULED → CANCELLED. "
        "Anything else is an IllegalTransitionError."
    )
    async def change_live_session_status(
        self, info: CtxInfo, id: strawberry.ID, status: LiveSessionStatusEnum
    ) -> LiveSessionMutationResult:
        if (refused := await denied(info, Action.RUN_LIVE_SESSIONS, scene_of(id))) is not None:
            return refused
        try:
            updated = await live_sessions.change_live_session_status(
                info.context.store, id, LiveSessionStatus(status)
            )
        except DomainError as error:
            return from_domain(error)
        if info.context.live is not None:  # rooms open now go live or close their doors
            try:
                await info.context.live.status_changed(updated.id, updated.status.value)
            except HubUnavailable:
                # the change is saved and is what every join reads; only the rooms open
                # now miss the announcement (their clients get "try again" until it is back)
                log.warning("live status change not announced: hub unavailable", session=id)
        return LiveSessionType(session=updated)

    @strawberry.mutation(
        description="A signed ticket to join a live session as an attendee (no account "
        "needed). Connect to `url` with a WebSocket and send "
        '`{"type":"hello","token":…}` first; see docs/live-protocol.md.'
    )
    async def join_live_session(
        self, info: CtxInfo, id: strawberry.ID, name: str
    ) -> JoinLiveSessionResult:
        return await _ticket(info, id, name, Role.ATTENDEE)

    @strawberry.mutation(
        description="A ticket with a staff role (host, guide, moderator) for organisers."
    )
    async def live_session_role_ticket(
        self, info: CtxInfo, id: strawberry.ID, name: str, role: LiveRoleEnum
    ) -> JoinLiveSessionResult:
        # moderators of the scene get moderator tickets; hosts and guides run sessions
        needed = Action.MODERATE if role == LiveRoleEnum.MODERATOR else Action.RUN_LIVE_SESSIONS
        if (refused := await denied(info, needed, scene_of(id))) is not None:
            return refused
        return await _ticket(info, id, name, Role(role))


async def _ticket(info: CtxInfo, id: strawberry.ID, name: str, role: Role) -> JoinLiveSessionResult:
    live = info.context.live
    if live is None:
        return ConflictError(code=ErrorCode.CONFLICT, message="live sessions are not enabled")
    try:
        await spend(info.context.quotas, LIVE_JOINS, await info.context.client_key(), "joins")
        token, claims, session = await live_sessions.join_live_session(
            info.context.store.reads, id, name, role, secret=live.secret, ttl=live.token_ttl
        )
    except RateLimited as error:
        return RateLimitedError(
            code=ErrorCode.RATE_LIMITED, message=error.message, retry_after_s=error.retry_after_s
        )
    except DomainError as error:
        failure = from_domain(error)
        assert not isinstance(failure, IllegalTransitionError)  # joining moves no lifecycle
        return failure
    return LiveSessionTicket(
        token=token,
        url=f"/live/{session.id}",
        member_id=claims.member_id,
        name=claims.name,
        role=claims.role,
        expires_at=claims.expires_at,
        session=LiveSessionType(session=session),
    )


@strawberry.type(description="What a client needs to connect to a live session.")
class LiveSessionTicket:
    token: str = strawberry.field(description="Signed join token; send it in the hello frame.")
    url: str = strawberry.field(description="WebSocket path, relative to the service.")
    member_id: int = strawberry.field(description="Your id inside the session (pose frames).")
    name: str
    role: LiveRoleEnum
    expires_at: datetime
    session: LiveSessionType


JoinLiveSessionResult = Annotated[
    LiveSessionTicket
    | NotFoundError
    | InvalidArgumentError
    | ConflictError
    | NotAuthorizedError
    | RateLimitedError,
    strawberry.union("JoinLiveSessionResult"),
]
