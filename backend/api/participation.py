"""GraphQL for public participation: visitor tokens, comments, moderation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated

import strawberry
from graphql import GraphQLError

from backend.api.access import denied, scene_of
from backend.api.errors import (
    AnyError,
    ConflictError,
    Error,
    ErrorCode,
    IllegalTransitionError,
    InvalidArgumentError,
    NotAuthorizedError,
    NotFoundError,
    RateLimitedError,
    from_domain,
)
from backend.api.types.common import GeoPosition
from backend.api.types.objects import CtxInfo
from backend.api.types.scenario import PollType
from backend.domain.errors import DomainError, RateLimited
from backend.domain.geo import GeoPoint
from backend.domain.identity import Action
from backend.domain.participation import Comment, CommentStatus, Reaction
from backend.domain.poll import PollClosed
from backend.domain.quotas import VISITOR_TOKENS
from backend.quota_stores import spend
from backend.services import participation
from backend.services.visitors import issue_visitor_token

MAX_PAGE = 100


@strawberry.enum(name="CommentStatus", description="Where a comment is in moderation.")
class CommentStatusEnum(Enum):
    PENDING = CommentStatus.PENDING.value
    APPROVED = CommentStatus.APPROVED.value
    REJECTED = CommentStatus.REJECTED.value


@strawberry.enum(name="Reaction", description="How a visitor reacts to a comment.")
class ReactionEnum(Enum):
    AGREE = Reaction.AGREE.value
    DISAGREE = Reaction.DISAGREE.value
    HELPFUL = Reaction.HELPFUL.value


@strawberry.type(description="How many visitors reacted with `reaction`.")
class ReactionCount:
    reaction: ReactionEnum
    count: int


@strawberry.type(name="Comment", description="A comment pinned to a place, a plan and a date.")
class CommentType:
    comment: strawberry.Private[Comment]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.comment.id)

    @strawberry.field
    def scene_slug(self) -> str:
        return self.comment.scene_slug

    @strawberry.field(description="The scenario and the version commented on.")
    def scenario_id(self) -> strawberry.ID | None:
        return strawberry.ID(self.comment.scenario_id) if self.comment.scenario_id else None

    @strawberry.field
    def scenario_version(self) -> int | None:
        return self.comment.scenario_version

    @strawberry.field
    def location(self) -> GeoPosition | None:
        where = self.comment.anchor.location
        return GeoPosition.of(where) if where is not None else None

    @strawberry.field
    def poi_id(self) -> strawberry.ID | None:
        return strawberry.ID(self.comment.anchor.poi_id) if self.comment.anchor.poi_id else None

    @strawberry.field(description="A date on the scenario's timeline.")
    def on_date(self) -> date | None:
        return self.comment.on_date

    @strawberry.field(description="The comment this one replies to.")
    def parent_id(self) -> strawberry.ID | None:
        return strawberry.ID(self.comment.parent_id) if self.comment.parent_id else None

    @strawberry.field
    def body(self) -> str:
        return self.comment.body

    @strawberry.field(description="The name the author chose (visitors are anonymous).")
    def author_name(self) -> str | None:
        return self.comment.author_name

    @strawberry.field(description="Written by the organisers: an official reply.")
    def official(self) -> bool:
        return self.comment.official

    @strawberry.field
    def status(self) -> CommentStatusEnum:
        return CommentStatusEnum(self.comment.status.value)

    @strawberry.field(description="Why a moderator rejected it.")
    def rejection_reason(self) -> str | None:
        return self.comment.rejection_reason

    @strawberry.field
    def created_at(self) -> datetime:
        return self.comment.created_at

    @strawberry.field(description="Reactions by kind (kinds nobody used are left out).")
    async def reactions(self, info: CtxInfo) -> list[ReactionCount]:
        counts = await info.context.store.reads.reaction_counts([self.comment.id])
        mine = counts.get(self.comment.id, {})
        return [
            ReactionCount(reaction=ReactionEnum(kind.value), count=mine[kind.value])
            for kind in Reaction
            if kind.value in mine
        ]


@strawberry.type(description="An anonymous visitor's token: send it as X-Visitor-Token.")
class VisitorTokenPayload:
    token: str
    visitor_id: str
    expires_at: datetime


@strawberry.input(description="A place: WGS84 degrees and metres above the ellipsoid.")
class LocationInput:
    lat: float
    lon: float
    height_m: float = 0.0


@strawberry.input(description="A comment. Pin it to `location` and/or `poiId`.")
class CommentInput:
    scene_slug: str
    body: str
    location: LocationInput | None = None
    poi_id: strawberry.ID | None = None
    scenario_id: strawberry.ID | None = strawberry.field(
        default=None, description="The scenario commented on (its current version)."
    )
    scenario_version: int | None = strawberry.field(
        default=None, description="An older version of the scenario, explicitly."
    )
    on_date: date | None = strawberry.field(
        default=None, description="A date on the scenario's timeline."
    )
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Reply to this (approved) comment."
    )
    author_name: str | None = None


CommentResult = Annotated[
    CommentType
    | InvalidArgumentError
    | NotFoundError
    | ConflictError
    | NotAuthorizedError
    | RateLimitedError
    | IllegalTransitionError,
    strawberry.union("CommentResult"),
]


def _error(error: DomainError) -> RateLimitedError | AnyError:
    if isinstance(error, RateLimited):
        return RateLimitedError(
            code=ErrorCode.RATE_LIMITED, message=error.message, retry_after_s=error.retry_after_s
        )
    return from_domain(error)


def _request(data: CommentInput) -> participation.CommentRequest:
    location = (
        GeoPoint.of("location", data.location.lat, data.location.lon, data.location.height_m)
        if data.location is not None
        else None
    )
    return participation.CommentRequest(
        scene_slug=data.scene_slug,
        body=data.body,
        location=location,
        poi_id=str(data.poi_id) if data.poi_id else None,
        scenario_id=str(data.scenario_id) if data.scenario_id else None,
        scenario_version=data.scenario_version,
        on_date=data.on_date,
        parent_id=str(data.parent_id) if data.parent_id else None,
        author_name=data.author_name,
    )


@strawberry.type(description="The poll no longer takes votes.")
class PollClosedError(Error):
    pass


@strawberry.type
class ParticipationMutation:
    @strawberry.mutation(
        description="A token for anonymous participation (no account). Each network address "
        "may mint a few an hour: over that, a top-level error with code RATE_LIMITED and "
        "`retryAfterS` in its extensions."
    )
    async def issue_visitor_token(self, info: CtxInfo) -> VisitorTokenPayload:
        try:
            await spend(
                info.context.quotas,
                VISITOR_TOKENS,
                await info.context.client_key(),
                "visitor tokens",
            )
        except RateLimited as error:
            raise GraphQLError(
                error.message,
                extensions={"code": "RATE_LIMITED", "retryAfterS": round(error.retry_after_s, 1)},
            ) from None
        issued = issue_visitor_token(
            info.context.visitor_secret, datetime.now(UTC), info.context.visitor_token_ttl
        )
        return VisitorTokenPayload(
            token=issued.token, visitor_id=issued.visitor_id, expires_at=issued.expires_at
        )

    @strawberry.mutation(
        description="Comment on a scene, pinned to a place or POI, optionally to a scenario "
        "version and a timeline date, or reply to a comment. Visitors send X-Visitor-Token; "
        "organisers' comments are official replies. The same `idempotencyKey` again returns "
        "the first result; with a different comment it is a ConflictError. Under "
        "pre-moderation the comment is PENDING until a moderator approves it."
    )
    async def create_comment(
        self, info: CtxInfo, input: CommentInput, idempotency_key: str
    ) -> CommentResult:
        try:
            comment = await participation.create_comment(
                info.context.store,
                _request(input),
                await info.context.author(input.scene_slug),
                idempotency_key,
                info.context.quotas,
                datetime.now(UTC),
            )
        except DomainError as error:
            return _error(error)
        return CommentType(comment=comment)

    @strawberry.mutation(
        description="Vote in a poll on a scenario (visitors, X-Visitor-Token): `options` are "
        "indexes into the poll's options (one, or several for a multiple-choice poll). One "
        "ballot per visitor; the same `idempotencyKey` again is answered as before."
    )
    async def vote(
        self,
        info: CtxInfo,
        poll_id: strawberry.ID,
        options: list[int],
        idempotency_key: str,
    ) -> VoteResult:
        try:
            poll = await participation.cast_vote(
                info.context.store,
                str(poll_id),
                options,
                await info.context.author(scene_of(poll_id)),
                idempotency_key,
                date.today(),
                datetime.now(UTC),
                info.context.quotas,
            )
        except PollClosed as error:
            return PollClosedError(code=ErrorCode.POLL_CLOSED, message=error.message)
        except DomainError as error:
            return _error(error)  # type: ignore[return-value]  # the use case raises none of the other kinds
        return PollType(poll=poll)

    @strawberry.mutation(
        description="React to an approved comment (visitors), or take the reaction back "
        "with `on: false`. Doing either twice changes nothing."
    )
    async def react_to_comment(
        self, info: CtxInfo, id: strawberry.ID, reaction: ReactionEnum, on: bool = True
    ) -> CommentResult:
        try:
            comment = await participation.react(
                info.context.store,
                str(id),
                await info.context.author(),
                Reaction(reaction.value),
                on,
                datetime.now(UTC),
            )
        except DomainError as error:
            return _error(error)
        return CommentType(comment=comment)

    @strawberry.mutation(
        description="Approve or reject (with a reason shown to the author) a comment "
        "(organisers and moderators)."
    )
    async def moderate_comment(
        self, info: CtxInfo, id: strawberry.ID, approve: bool, reason: str | None = None
    ) -> CommentResult:
        found = (await info.context.store.reads.comments_by_id([str(id)])).get(str(id))
        scene = found.scene_slug if found is not None else None
        if (refused := await denied(info, Action.MODERATE, scene)) is not None:
            return refused
        try:
            comment = await participation.moderate_comment(
                info.context.store, str(id), approve, reason, datetime.now(UTC)
            )
        except DomainError as error:
            return _error(error)
        return CommentType(comment=comment)


VoteResult = Annotated[
    PollType
    | InvalidArgumentError
    | NotFoundError
    | ConflictError
    | NotAuthorizedError
    | PollClosedError
    | RateLimitedError,
    strawberry.union("VoteResult"),
]


@strawberry.type
class ParticipationQuery:
    @strawberry.field(
        description="A scene's approved comments in the order written (optionally of one "
        "scenario); `after` is the last comment id of the previous page."
    )
    async def comments(
        self,
        info: CtxInfo,
        scene_slug: str,
        scenario_id: strawberry.ID | None = None,
        first: int = 50,
        after: strawberry.ID | None = None,
    ) -> list[CommentType]:
        return await _page(info, scene_slug, [CommentStatus.APPROVED], scenario_id, first, after)

    @strawberry.field(
        description="Comments waiting for a moderator (organisers and moderators of the "
        "scene; else empty)."
    )
    async def moderation_queue(
        self, info: CtxInfo, scene_slug: str, first: int = 50, after: strawberry.ID | None = None
    ) -> list[CommentType]:
        if not await info.context.may(Action.MODERATE, scene_slug, "moderationQueue"):
            return []
        return await _page(info, scene_slug, [CommentStatus.PENDING], None, first, after)


async def _page(
    info: CtxInfo,
    scene_slug: str,
    statuses: list[CommentStatus],
    scenario_id: strawberry.ID | None,
    first: int,
    after: strawberry.ID | None,
) -> list[CommentType]:
    reads = info.context.store.reads
    after_row = await reads.comment_position(str(after)) if after is not None else None
    found = await reads.list_comments(
        scene_slug,
        statuses=statuses,
        scenario_id=str(scenario_id) if scenario_id else None,
        limit=max(1, min(first, MAX_PAGE)),
        after_row=after_row,
    )
    return [CommentType(comment=c) for _, c in found]
