"""Root query fields. Each parses its arguments, reads through the store, renders types."""

from __future__ import annotations

from typing import Annotated

import strawberry

from backend.api.context import Context
from backend.api.errors import InvalidArgumentError, NotFoundError, from_domain
from backend.api.identity import IdentityQuery
from backend.api.inputs import PoiFilterInput, to_filter
from backend.api.participation import ParticipationQuery
from backend.api.publishing import PublishingQuery
from backend.api.scenarios import ScenarioQuery
from backend.api.stamps import StampQuery
from backend.api.types.common import ClientTierEnum, LiveSessionStatusEnum
from backend.api.types.objects import (
    CtxInfo,
    LiveSessionType,
    PoiType,
    RegionType,
    SceneType,
    TourType,
)
from backend.domain.errors import DomainError, NotFound
from backend.domain.identity import Action
from backend.domain.ids import split_qualified_id, validate_slug
from backend.domain.poi_query import MAX_PAGE_SIZE, PageRequest, PoiFilter
from backend.domain.scene import ClientTier


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class PoiEdge:
    cursor: str
    node: PoiType
    distance_m: float | None = strawberry.field(
        description="Great-circle distance from `filter.near`, metres; null otherwise."
    )


@strawberry.type(description="A page of POIs (Relay connection).")
class PoiConnection:
    edges: list[PoiEdge]
    page_info: PageInfo
    where: strawberry.Private[PoiFilter]

    @strawberry.field(description="POIs matching the filter, across all pages.")
    async def total_count(self, info: CtxInfo) -> int:
        return await info.context.store.reads.count_pois(self.where)


@strawberry.type
class TourList:
    tours: list[TourType]


@strawberry.type
class LiveSessionList:
    live_sessions: list[LiveSessionType]


RegionResult = Annotated[
    RegionType | NotFoundError | InvalidArgumentError, strawberry.union("RegionResult")
]
SceneResult = Annotated[
    SceneType | NotFoundError | InvalidArgumentError, strawberry.union("SceneResult")
]
PoiResult = Annotated[PoiType | NotFoundError | InvalidArgumentError, strawberry.union("PoiResult")]
PoiConnectionResult = Annotated[
    PoiConnection | NotFoundError | InvalidArgumentError, strawberry.union("PoiConnectionResult")
]
ToursResult = Annotated[
    TourList | NotFoundError | InvalidArgumentError, strawberry.union("ToursResult")
]
TourResult = Annotated[
    TourType | NotFoundError | InvalidArgumentError, strawberry.union("TourResult")
]
LiveSessionsResult = Annotated[
    LiveSessionList | NotFoundError | InvalidArgumentError, strawberry.union("LiveSessionsResult")
]
LiveSessionResult = Annotated[
    LiveSessionType | NotFoundError | InvalidArgumentError, strawberry.union("LiveSessionResult")
]


async def _scene(context: Context, slug: str, argument: str = "slug") -> SceneType:
    validate_slug(argument, slug)
    scene = await context.loaders.scenes.load(slug)
    if scene is None:
        raise NotFound("scene", slug)
    return SceneType(scene=scene, tier=ClientTier.DESKTOP)


@strawberry.type
class Query(IdentityQuery, PublishingQuery, ScenarioQuery, ParticipationQuery, StampQuery):
    @strawberry.field(description="Every region, by slug.")
    async def regions(self, info: CtxInfo) -> list[RegionType]:
        return [RegionType(region=r) for r in await info.context.store.reads.regions()]

    @strawberry.field
    async def region(self, info: CtxInfo, slug: str) -> RegionResult:
        try:
            validate_slug("slug", slug)
            region = await info.context.loaders.regions.load(slug)
            if region is None:
                raise NotFound("region", slug)
            return RegionType(region=region)
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.field(description="A scene with its layers' assets for the client's tier.")
    async def scene(
        self, info: CtxInfo, slug: str, tier: ClientTierEnum = ClientTier.DESKTOP
    ) -> SceneResult:
        try:
            found = await _scene(info.context, slug)
            return SceneType(scene=found.scene, tier=tier)
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.field(
        description=f"Search POIs. `first` is 1..{MAX_PAGE_SIZE}; nearest first with `near`, "
        "best match first with `text`, else in stored order."
    )
    async def pois(
        self,
        info: CtxInfo,
        filter: PoiFilterInput | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> PoiConnectionResult:
        try:
            where, lang = to_filter(filter)
            page = PageRequest.of(first, after, where.order)
            if where.scene_slug is not None:
                await _scene(info.context, where.scene_slug, "filter.sceneSlug")
            result = await info.context.store.reads.search_pois(where, page)
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]
        edges = [
            PoiEdge(
                cursor=h.cursor, node=PoiType(poi=h.poi, default_lang=lang), distance_m=h.distance_m
            )
            for h in result.hits
        ]
        for hit in result.hits:  # prime the loader: `poi(id)` in the same request is free
            info.context.loaders.pois.prime(hit.poi.id, hit.poi)
        return PoiConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=result.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            where=where,
        )

    @strawberry.field
    async def poi(self, info: CtxInfo, id: strawberry.ID) -> PoiResult:
        try:
            split_qualified_id("id", id)
            poi = await info.context.loaders.pois.load(id)
            if poi is None:
                raise NotFound("POI", id)
            return PoiType(poi=poi)
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.field(description="The tours of a scene.")
    async def tours(self, info: CtxInfo, scene_slug: str) -> ToursResult:
        try:
            await _scene(info.context, scene_slug, "sceneSlug")
            tours = await info.context.loaders.tours_by_scene.load(scene_slug) or []
            return TourList(tours=[TourType(tour=t) for t in tours])
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.field
    async def tour(self, info: CtxInfo, id: strawberry.ID) -> TourResult:
        try:
            split_qualified_id("id", id)
            tour = await info.context.loaders.tours.load(id)
            if tour is None:
                raise NotFound("tour", id)
            return TourType(tour=tour)
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.field(
        description="Listed sessions by start time; unlisted ones only for organisers."
    )
    async def live_sessions(
        self,
        info: CtxInfo,
        status: list[LiveSessionStatusEnum] | None = None,
        scene_slug: str | None = None,
    ) -> LiveSessionsResult:
        try:
            if scene_slug is not None:
                await _scene(info.context, scene_slug, "sceneSlug")
            sessions = await info.context.store.reads.list_live_sessions(
                statuses=status,
                scene_slug=scene_slug,
                include_unlisted=await info.context.may(
                    Action.SEE_UNLISTED, scene_slug, audited=False
                ),
            )
            return LiveSessionList(live_sessions=[LiveSessionType(session=s) for s in sessions])
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]

    @strawberry.field(description="Any session by id, including unlisted ones.")
    async def live_session(self, info: CtxInfo, id: strawberry.ID) -> LiveSessionResult:
        try:
            split_qualified_id("id", id)
            session = await info.context.loaders.live_sessions.load(id)
            if session is None:
                raise NotFound("live session", id)
            return LiveSessionType(session=session)
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]
