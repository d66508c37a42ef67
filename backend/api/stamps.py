"""GraphQL for stamp and treasure tours: the tours, a visitor's progress, position
reports, stamp claims, badges and transfer codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from backend.api.errors import (
    AnyError,
    Error,
    ErrorCode,
    InvalidArgumentError,
    NotAuthorizedError,
    NotFoundError,
    from_domain,
)
from backend.api.participation import LocationInput, VisitorTokenPayload
from backend.api.types.common import LocalizedString, localized
from backend.api.types.objects import CtxInfo, LangArg
from backend.domain.errors import DomainError, NotFound
from backend.domain.geo import GeoPoint
from backend.domain.stamps import ImplausibleMovement, ProofMissing, StampStop, StampTour
from backend.services import stamps as service
from backend.services.visitors import issue_visitor_token_for


@strawberry.type(name="StampStop", description="A stop to reach; its answers stay secret.")
class StampStopType:
    stop: strawberry.Private[StampStop]
    scene_slug: strawberry.Private[str]
    index: int

    @strawberry.field
    def poi_id(self) -> strawberry.ID:
        return strawberry.ID(f"{self.scene_slug}:{self.stop.poi_key}")

    @strawberry.field(description="Be within this distance of the POI (null: no presence).")
    def radius_m(self) -> float | None:
        return self.stop.radius_m

    @strawberry.field(description="…for at least this long, reporting every few seconds.")
    def dwell_s(self) -> float:
        return self.stop.dwell_s

    @strawberry.field
    async def riddle(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.stop.riddle, lang, scene_slug=self.scene_slug)

    @strawberry.field
    async def hint(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.stop.hint, lang, scene_slug=self.scene_slug)


@strawberry.type(name="StampTour", description="A stamp or treasure tour of a scene.")
class StampTourType:
    tour: strawberry.Private[StampTour]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.tour.id)

    @strawberry.field
    async def name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.tour.name, lang, scene_slug=self.tour.scene_slug)
        assert text is not None
        return text

    @strawberry.field
    async def description(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.tour.description, lang, scene_slug=self.tour.scene_slug)

    @strawberry.field
    async def badge_name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.tour.badge_name, lang, scene_slug=self.tour.scene_slug)
        assert text is not None
        return text

    @strawberry.field
    def stops(self) -> list[StampStopType]:
        return [
            StampStopType(stop=s, scene_slug=self.tour.scene_slug, index=i)
            for i, s in enumerate(self.tour.stops)
        ]


@strawberry.type(description="A stamp earned.")
class EarnedStamp:
    stop: int
    earned_at: datetime


@strawberry.type(description="A completed tour's badge; anyone can check its code.")
class Badge:
    code: str
    tour_id: strawberry.ID
    issued_at: datetime


@strawberry.type(name="StampProgress", description="A visitor's progress on a stamp tour.")
class StampProgressType:
    progress: strawberry.Private[service.Progress]

    @strawberry.field
    def tour(self) -> StampTourType:
        return StampTourType(tour=self.progress.tour)

    @strawberry.field
    def stamps(self) -> list[EarnedStamp]:
        return [EarnedStamp(stop=i, earned_at=at) for i, at in sorted(self.progress.stamps.items())]

    @strawberry.field(description="The stop whose radius the last position is inside.")
    def at_stop(self) -> int | None:
        tracker = self.progress.tracker
        return tracker.dwell_stop if tracker is not None else None

    @strawberry.field(description="Seconds spent at that stop so far.")
    def dwell_s(self) -> float:
        tracker = self.progress.tracker
        return tracker.dwell_s if tracker is not None else 0.0

    @strawberry.field
    def complete(self) -> bool:
        return len(self.progress.stamps) == len(self.progress.tour.stops)

    @strawberry.field
    def badge(self) -> Badge | None:
        if self.progress.badge_code is None or self.progress.badge_issued_at is None:
            return None
        return Badge(
            code=self.progress.badge_code,
            tour_id=strawberry.ID(self.progress.tour.id),
            issued_at=self.progress.badge_issued_at,
        )


@strawberry.type(description="The stop's condition is not met; `missing` says which part.")
class StampConditionError(Error):
    missing: str = strawberry.field(description="presence, dwell or answer.")


@strawberry.type(description="The reported position is impossible after the previous one.")
class ImplausibleMovementError(Error):
    pass


@strawberry.type(description="Give this code on another device within `expiresAt`.")
class TransferCode:
    code: str
    expires_at: datetime


StampResult = Annotated[
    StampProgressType
    | StampConditionError
    | ImplausibleMovementError
    | InvalidArgumentError
    | NotFoundError
    | NotAuthorizedError,
    strawberry.union("StampResult"),
]
TransferCodeResult = Annotated[
    TransferCode | NotAuthorizedError, strawberry.union("TransferCodeResult")
]
VerifyBadgeResult = Annotated[Badge | NotFoundError, strawberry.union("VerifyBadgeResult")]
RedeemResult = Annotated[
    VisitorTokenPayload | NotFoundError, strawberry.union("RedeemTransferCodeResult")
]


def _error(
    error: DomainError,
) -> StampConditionError | ImplausibleMovementError | AnyError:
    if isinstance(error, ProofMissing):
        return StampConditionError(
            code=ErrorCode.CONDITION_NOT_MET, message=error.message, missing=error.missing
        )
    if isinstance(error, ImplausibleMovement):
        return ImplausibleMovementError(code=ErrorCode.IMPLAUSIBLE_MOVEMENT, message=error.message)
    return from_domain(error)


async def _visitor(info: CtxInfo) -> str:
    """The visitor of the X-Visitor-Token (NotAuthorized without a valid one)."""
    return (await info.context.author()).id


@strawberry.type
class StampQuery:
    @strawberry.field(description="The caller's progress on a stamp tour (X-Visitor-Token).")
    async def stamp_progress(self, info: CtxInfo, tour_id: strawberry.ID) -> StampResult:
        try:
            visitor = await _visitor(info)
            found = await service.progress(info.context.store.reads, visitor, str(tour_id))
        except DomainError as error:
            return _error(error)  # type: ignore[return-value]  # the use case raises none of the other kinds
        return StampProgressType(progress=found)

    @strawberry.field(
        description="Check a badge code (anyone): the tour and when it was won, or "
        "NotFoundError for a code never issued."
    )
    async def verify_badge(self, info: CtxInfo, code: str) -> VerifyBadgeResult:
        normalised = code.strip().upper()
        found = await info.context.store.reads.badge(normalised)
        if found is None:
            missing = NotFound("badge", code)
            return NotFoundError(
                code=ErrorCode.NOT_FOUND, message=missing.message, resource="badge", key=code
            )
        return Badge(code=normalised, tour_id=strawberry.ID(found[0]), issued_at=found[1])


@strawberry.type
class StampMutation:
    @strawberry.mutation(
        description="Report the camera position on a stamp tour (every few seconds while "
        "a stop is in view). Impossible movement is refused and not recorded."
    )
    async def report_position(
        self, info: CtxInfo, tour_id: strawberry.ID, location: LocationInput
    ) -> StampResult:
        try:
            visitor = await _visitor(info)
            where = GeoPoint.of("location", location.lat, location.lon, location.height_m)
            found = await service.report_position(
                info.context.store, visitor, str(tour_id), where, info.context.clock()
            )
        except DomainError as error:
            return _error(error)  # type: ignore[return-value]  # the use case raises none of the other kinds
        return StampProgressType(progress=found)

    @strawberry.mutation(
        description="Claim a stop's stamp: the server checks presence, dwell and the "
        "riddle's answer. The last stamp earns the badge. Claiming again is harmless."
    )
    async def claim_stamp(
        self, info: CtxInfo, tour_id: strawberry.ID, stop: int, answer: str | None = None
    ) -> StampResult:
        try:
            visitor = await _visitor(info)
            found = await service.claim_stamp(
                info.context.store, visitor, str(tour_id), stop, answer, info.context.clock()
            )
        except DomainError as error:
            return _error(error)  # type: ignore[return-value]  # the use case raises none of the other kinds
        return StampProgressType(progress=found)

    @strawberry.mutation(description="A one-time code that moves this visitor to a new device.")
    async def create_transfer_code(self, info: CtxInfo) -> TransferCodeResult:
        try:
            visitor = await _visitor(info)
        except DomainError as error:
            return _error(error)  # type: ignore[return-value]  # only NotAuthorized here
        code, expires = await service.create_transfer_code(
            info.context.store, visitor, datetime.now(UTC)
        )
        return TransferCode(code=code, expires_at=expires)

    @strawberry.mutation(
        description="On the new device: a visitor token for the visitor who made the code "
        "(their stamps, comments and votes come along). Each code works once."
    )
    async def redeem_transfer_code(self, info: CtxInfo, code: str) -> RedeemResult:
        try:
            visitor = await service.redeem_transfer_code(
                info.context.store, code, datetime.now(UTC)
            )
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]  # from_domain's union is wider than this result's
        issued = issue_visitor_token_for(
            visitor, info.context.visitor_secret, datetime.now(UTC), info.context.visitor_token_ttl
        )
        return VisitorTokenPayload(
            token=issued.token, visitor_id=issued.visitor_id, expires_at=issued.expires_at
        )
