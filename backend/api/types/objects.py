"""The object graph: Region → Scene → Layer/Tour/LiveSession, Poi, Tour → TourStop → Poi.

Kept in one module because the types refer to each other in cycles. Relations resolve
through the request's DataLoaders, so a page of 100 POIs costs a constant number of queries.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime, time
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from backend.api.context import Context
from backend.api.types.common import (
    LANG_DESCRIPTION,
    AccessFactEnum,
    BoundingBoxType,
    ClientTierEnum,
    GeoPosition,
    LayerKindEnum,
    LiveSessionStatusEnum,
    LocalizedString,
    MediaKindEnum,
    PoiCategoryEnum,
    ScenePosition,
    VisibilityEnum,
    localized,
)
from backend.domain.client_budget import ClientBudget, budget_for
from backend.domain.i18n import Locale, LocalizedText
from backend.domain.live_session import LiveSession
from backend.domain.opening_hours import DAY_CODES, OpeningHours
from backend.domain.poi import MediaRef, Poi
from backend.domain.publishing import SceneVersion
from backend.domain.region import Region
from backend.domain.scenario import visible_layers
from backend.domain.scene import ClientTier, Layer, Scene
from backend.domain.tour import Tour, TourStop

LangArg = Annotated[str | None, strawberry.argument(description=LANG_DESCRIPTION)]
CtxInfo = Info[Context, None]

if TYPE_CHECKING:
    from backend.api.stamps import StampTourType
    from backend.api.types.scenario import ScenarioType, SceneStateType


@strawberry.type(name="Region", description="A local government area (county or city).")
class RegionType:
    region: strawberry.Private[Region]

    @strawberry.field
    def slug(self) -> str:
        return self.region.slug

    @strawberry.field
    async def name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.region.name, lang, region=self.region)
        assert text is not None
        return text

    @strawberry.field
    async def province(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.region.province, lang, region=self.region)

    @strawberry.field
    def bounds(self) -> BoundingBoxType:
        return BoundingBoxType.of(self.region.bounds)

    @strawberry.field(description="Languages this region publishes in, most important first.")
    def default_locales(self) -> list[str]:
        return [locale.value for locale in self.region.default_locales]

    @strawberry.field(description="IANA time zone of the region (opening hours, schedules).")
    def timezone(self) -> str:
        return self.region.timezone

    @strawberry.field
    async def scenes(
        self, info: CtxInfo, tier: ClientTierEnum = ClientTier.DESKTOP
    ) -> list[SceneType]:
        scenes = await info.context.loaders.scenes_by_region.load(self.region.slug) or []
        return [SceneType(scene=s, tier=tier) for s in scenes]


@strawberry.type(name="LayerAsset", description="A deliverable file of a layer for one tier.")
class LayerAssetType:
    url: str
    sha256: str
    media_type: str
    byte_size: int
    triangle_count: int
    tier: ClientTierEnum = strawberry.field(
        description="The tier this file was made for (desktop when a tier has no own file)."
    )
    tileset_url: str | None = strawberry.field(
        default=None,
        description="3D Tiles 1.1 tileset of this layer for the tier: its levels of detail "
        "with measured geometric errors, placed on the globe (ENU → ECEF). This asset's "
        "single GLB is the fallback for clients without a 3D Tiles renderer.",
    )


@strawberry.type(name="Layer", description="A layer of a scene: terrain, buildings, plans ...")
class LayerType:
    layer: strawberry.Private[Layer]
    scene_slug: strawberry.Private[str]
    tier: strawberry.Private[ClientTier]

    @strawberry.field
    def key(self) -> str:
        return self.layer.key

    @strawberry.field
    def kind(self) -> LayerKindEnum:
        return self.layer.kind

    @strawberry.field
    async def name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.layer.name, lang, scene_slug=self.scene_slug)
        assert text is not None
        return text

    @strawberry.field(description="The file for the requested tier, or null if none exists.")
    def asset(self, info: CtxInfo) -> LayerAssetType | None:
        asset = self.layer.asset_for(self.tier)
        if asset is None:
            return None
        ext = "glb" if asset.media_type == "model/gltf-binary" else "bin"
        return LayerAssetType(
            url=info.context.asset_url(asset.sha256, ext),
            sha256=asset.sha256,
            media_type=asset.media_type,
            byte_size=asset.byte_size,
            triangle_count=asset.triangle_count,
            tier=asset.tier,
            tileset_url=(
                info.context.asset_url(asset.tileset_sha256, "json")
                if asset.tileset_sha256
                else None
            ),
        )


@strawberry.type(description="A client tier's budget and formats, with the reasons for them.")
class ClientBudgetType:
    tier: ClientTierEnum
    frame_rate_hz: int
    max_triangles: int = strawberry.field(description="Triangles drawn per frame, all tiles.")
    max_texture_px: int = strawberry.field(description="Longest side of any texture sent.")
    tile_cache_mb: int = strawberry.field(description="Memory a tiles renderer may keep.")
    max_screen_space_error_px: float = strawberry.field(
        description="Refine a tile when its geometric error would exceed this on screen."
    )
    geometry_codec: str = strawberry.field(description="glTF extension of the tier's meshes.")
    texture_format: str
    texture_fallbacks: list[str]
    reasons: list[str]

    @classmethod
    def of(cls, budget: ClientBudget) -> ClientBudgetType:
        return cls(
            tier=budget.tier,
            frame_rate_hz=budget.frame_rate_hz,
            max_triangles=budget.max_triangles,
            max_texture_px=budget.max_texture_px,
            tile_cache_mb=budget.tile_cache_mb,
            max_screen_space_error_px=budget.max_screen_space_error_px,
            geometry_codec=budget.geometry_codec,
            texture_format=budget.texture_format,
            texture_fallbacks=list(budget.texture_fallbacks),
            reasons=list(budget.reasons),
        )


@strawberry.type(name="Scene", description="A georeferenced 3D model of part of a region.")
class SceneType:
    scene: strawberry.Private[Scene]
    tier: ClientTierEnum = strawberry.field(description="The tier the layers' assets are for.")

    @strawberry.field
    def slug(self) -> str:
        return self.scene.slug

    @strawberry.field
    async def region(self, info: CtxInfo) -> RegionType:
        region = await info.context.loaders.regions.load(self.scene.region_slug)
        assert region is not None, "scenes reference existing regions (foreign key)"
        return RegionType(region=region)

    @strawberry.field
    async def name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.scene.name, lang, scene_slug=self.scene.slug)
        assert text is not None
        return text

    @strawberry.field
    async def description(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.scene.description, lang, scene_slug=self.scene.slug)

    @strawberry.field(description="WGS84 origin of scene coordinates (ENU: x east, y north, z up).")
    def origin(self) -> GeoPosition:
        return GeoPosition.of(self.scene.georeference.origin)

    @strawberry.field(
        description="What a client of this tier should load at most, and in which formats "
        "(docs/client-tiers.md explains each number)."
    )
    def budget(self) -> ClientBudgetType:
        return ClientBudgetType.of(budget_for(self.tier))

    @strawberry.field(description="Size of the modelled area east-west, metres.")
    def extent_east_m(self) -> float:
        return self.scene.georeference.extent_east_m

    @strawberry.field(description="Size of the modelled area north-south, metres.")
    def extent_north_m(self) -> float:
        return self.scene.georeference.extent_north_m

    @strawberry.field(
        description="The layers of today's baseline; plan layers appear through `state` "
        "under a scenario."
    )
    def layers(self) -> list[LayerType]:
        return [
            LayerType(layer=layer, scene_slug=self.scene.slug, tier=self.tier)
            for layer in self.scene.layers
            if layer.baseline
        ]

    @strawberry.field(description="Stamp and treasure tours of the scene.")
    async def stamp_tours(
        self, info: CtxInfo
    ) -> list[Annotated[StampTourType, strawberry.lazy("backend.api.stamps")]]:
        from backend.api.stamps import StampTourType

        found = await info.context.store.reads.stamp_tours_by_scene(self.scene.slug)
        return [StampTourType(tour=t) for t in found]

    @strawberry.field(description="The development scenarios offered (newest versions).")
    async def scenarios(
        self, info: CtxInfo
    ) -> list[Annotated[ScenarioType, strawberry.lazy("backend.api.types.scenario")]]:
        from backend.api.types.scenario import ScenarioType

        found = await info.context.store.reads.scenarios_by_scene([self.scene.slug])
        return [ScenarioType(scenario=s) for s in found.get(self.scene.slug, [])]

    @strawberry.field(
        description="What the scene shows under `scenario` (null: today's baseline) on "
        "`date` (null: the plan's end state); an unknown scenario gives null."
    )
    async def state(
        self, info: CtxInfo, scenario: strawberry.ID | None = None, date: dt.date | None = None
    ) -> Annotated[SceneStateType, strawberry.lazy("backend.api.types.scenario")] | None:
        from backend.api.types.scenario import PhaseType, ScenarioType, SceneStateType

        chosen = None
        if scenario is not None:
            chosen = (await info.context.store.reads.scenarios_by_id([str(scenario)])).get(
                str(scenario)
            )
            if chosen is None or chosen.scene_slug != self.scene.slug:
                return None
        phase = chosen.phase_on(date) if chosen is not None and date is not None else None
        return SceneStateType(
            scene_slug=self.scene.slug,
            tier=self.tier,
            shown=visible_layers(self.scene.layers, chosen, date),
            scenario=ScenarioType(scenario=chosen) if chosen is not None else None,
            date=date,
            phase=PhaseType(phase=phase, scene_slug=self.scene.slug) if phase else None,
        )

    @strawberry.field(
        description="The published version `layers` belong to (0: none published yet). "
        "Versions are switched atomically: layers of two versions are never mixed."
    )
    def version(self) -> int:
        return self.scene.version

    @strawberry.field(description="Every published version of the scene, newest first.")
    async def versions(self, info: CtxInfo) -> list[SceneVersionType]:
        found = await info.context.store.reads.scene_versions(self.scene.slug)
        return [SceneVersionType(version=v) for v in found]

    @strawberry.field
    async def tours(self, info: CtxInfo) -> list[TourType]:
        tours = await info.context.loaders.tours_by_scene.load(self.scene.slug) or []
        return [TourType(tour=t) for t in tours]


@strawberry.type(
    name="SceneVersion", description="One published, immutable state of a scene's layers."
)
class SceneVersionType:
    version: strawberry.Private[SceneVersion]

    @strawberry.field(name="version")
    def number(self) -> int:
        return self.version.version

    @strawberry.field
    def published_at(self) -> datetime:
        return self.version.published_at

    @strawberry.field(description="The publish job that made it (null: loaded at start-up).")
    def job_id(self) -> strawberry.ID | None:
        return strawberry.ID(self.version.job_id) if self.version.job_id else None

    @strawberry.field
    def layer_keys(self) -> list[str]:
        return [layer.key for layer in self.version.layers]


@strawberry.type(description="Open from `opens` to `closes` (local time) on `days`.")
class OpeningInterval:
    days: list[str] = strawberry.field(description="Day codes mo, tu, we, th, fr, sa, su.")
    opens: str
    closes: str = strawberry.field(description="HH:MM; earlier than `opens` means next day.")


@strawberry.type(name="OpeningHours")
class OpeningHoursType:
    hours: strawberry.Private[OpeningHours]

    @strawberry.field
    def always_open(self) -> bool:
        return self.hours.always_open

    @strawberry.field
    def intervals(self) -> list[OpeningInterval]:
        return [
            OpeningInterval(
                days=[DAY_CODES[d] for d in sorted(i.weekdays)],
                opens=i.opens.strftime("%H:%M"),
                closes="24:00" if i.closes == time.max else i.closes.strftime("%H:%M"),
            )
            for i in self.hours.intervals
        ]


@strawberry.type(name="Media")
class MediaType:
    media: strawberry.Private[MediaRef]
    scene_slug: strawberry.Private[str]

    @strawberry.field
    def kind(self) -> MediaKindEnum:
        return self.media.kind

    @strawberry.field
    def url(self) -> str:
        return self.media.url

    @strawberry.field
    async def caption(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.media.caption, lang, scene_slug=self.scene_slug)

    @strawberry.field
    def attribution(self) -> str | None:
        return self.media.attribution

    @strawberry.field
    def license(self) -> str | None:
        return self.media.license


@strawberry.type(name="Poi", description="A point of interest in a scene.")
class PoiType:
    poi: strawberry.Private[Poi]
    default_lang: strawberry.Private[Locale | None] = None

    async def _text(
        self, info: CtxInfo, text: LocalizedText | None, lang: str | None
    ) -> LocalizedString | None:
        return await localized(
            info, text, lang, scene_slug=self.poi.scene_slug, default=self.default_lang
        )

    @strawberry.field(description="Globally unique: `<scene-slug>:<key>`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.poi.id)

    @strawberry.field
    def key(self) -> str:
        return self.poi.key

    @strawberry.field
    def category(self) -> PoiCategoryEnum:
        return self.poi.category

    @strawberry.field
    def location(self) -> GeoPosition:
        return GeoPosition.of(self.poi.location)

    @strawberry.field(description="Anchor in scene coordinates, where the marker is placed.")
    def anchor(self) -> ScenePosition | None:
        return None if self.poi.anchor_m is None else ScenePosition.of(self.poi.anchor_m)

    @strawberry.field
    async def name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await self._text(info, self.poi.name, lang)
        assert text is not None
        return text

    @strawberry.field
    async def description(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await self._text(info, self.poi.description, lang)

    @strawberry.field(description="Accessibility notes (steps, ramps, toilets ...).")
    async def accessibility(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await self._text(info, self.poi.accessibility, lang)

    @strawberry.field(description="Structured accessibility facts, for icons and filters.")
    def access(self) -> list[AccessFactEnum]:
        return sorted(self.poi.access, key=lambda fact: fact.value)

    @strawberry.field
    def tags(self) -> list[str]:
        return list(self.poi.tags)

    @strawberry.field(description="Weekly hours; null when unknown.")
    def opening_hours(self) -> OpeningHoursType | None:
        hours = self.poi.opening_hours
        return None if hours is None else OpeningHoursType(hours=hours)

    @strawberry.field
    async def opening_hours_note(
        self, info: CtxInfo, lang: LangArg = None
    ) -> LocalizedString | None:
        return await self._text(info, self.poi.opening_hours_note, lang)

    @strawberry.field(
        description="Open at `at` (with offset) in the region's time; null if unknown."
    )
    async def is_open_at(self, info: CtxInfo, at: datetime) -> bool | None:
        hours = self.poi.opening_hours
        if hours is None:
            return None
        scene = await info.context.loaders.scenes.load(self.poi.scene_slug)
        region = scene and await info.context.loaders.regions.load(scene.region_slug)
        timezone = region.timezone if region else "Asia/Seoul"
        return hours.is_open_at(at, timezone)

    @strawberry.field
    def media(self) -> list[MediaType]:
        return [MediaType(media=m, scene_slug=self.poi.scene_slug) for m in self.poi.media]

    @strawberry.field
    async def scene(self, info: CtxInfo, tier: ClientTierEnum = ClientTier.DESKTOP) -> SceneType:
        scene = await info.context.loaders.scenes.load(self.poi.scene_slug)
        assert scene is not None, "POIs reference existing scenes (foreign key)"
        return SceneType(scene=scene, tier=tier)


@strawberry.type(description="A camera in scene coordinates; heading clockwise from north.")
class CameraPoseType:
    position: ScenePosition
    heading_deg: float
    pitch_deg: float
    roll_deg: float
    fov_deg: float


@strawberry.type(name="TourStop")
class TourStopType:
    stop: strawberry.Private[TourStop]
    scene_slug: strawberry.Private[str]
    position: int = strawberry.field(description="0-based order in the tour.")

    @strawberry.field
    async def poi(self, info: CtxInfo) -> PoiType:
        poi = await info.context.loaders.pois.load(f"{self.scene_slug}:{self.stop.poi_key}")
        assert poi is not None, "stops reference existing POIs (foreign key)"
        return PoiType(poi=poi)

    @strawberry.field
    def dwell_min(self) -> int:
        return self.stop.dwell_min

    @strawberry.field
    async def narration(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.stop.narration, lang, scene_slug=self.scene_slug)

    @strawberry.field(
        description="What the stop shows, in words, for clients without 3D and screen "
        "readers: the stop's own text, else its narration, else the POI's description."
    )
    async def text_alternative(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        text = self.stop.text_alternative or self.stop.narration
        if text is None:
            poi = await info.context.loaders.pois.load(f"{self.scene_slug}:{self.stop.poi_key}")
            text = poi.description if poi is not None else None
        return await localized(info, text, lang, scene_slug=self.scene_slug)

    @strawberry.field(description="A 2D picture or panorama of the stop's view.")
    def fallback_image_url(self) -> str | None:
        return self.stop.fallback_image_url

    @strawberry.field
    def camera(self) -> CameraPoseType:
        c = self.stop.camera
        return CameraPoseType(
            position=ScenePosition.of(c.position_m),
            heading_deg=c.heading_deg,
            pitch_deg=c.pitch_deg,
            roll_deg=c.roll_deg,
            fov_deg=c.fov_deg,
        )


@strawberry.type(name="Tour", description="An ordered walk through POIs of one scene.")
class TourType:
    tour: strawberry.Private[Tour]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.tour.id)

    @strawberry.field
    def key(self) -> str:
        return self.tour.key

    @strawberry.field
    async def scene(self, info: CtxInfo, tier: ClientTierEnum = ClientTier.DESKTOP) -> SceneType:
        scene = await info.context.loaders.scenes.load(self.tour.scene_slug)
        assert scene is not None
        return SceneType(scene=scene, tier=tier)

    @strawberry.field
    async def name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.tour.name, lang, scene_slug=self.tour.scene_slug)
        assert text is not None
        return text

    @strawberry.field
    async def description(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.tour.description, lang, scene_slug=self.tour.scene_slug)

    @strawberry.field(description="Declared, or dwell times plus a minute per transition.")
    def estimated_duration_min(self) -> int:
        return self.tour.duration_min()

    @strawberry.field(description="Great-circle length through the stops, metres.")
    async def route_length_m(self, info: CtxInfo) -> float:
        ids = [f"{self.tour.scene_slug}:{s.poi_key}" for s in self.tour.stops]
        pois = await info.context.loaders.pois.load_many(ids)
        return self.tour.route_length_m({p.key: p for p in pois if p is not None})

    @strawberry.field
    def stops(self) -> list[TourStopType]:
        return [
            TourStopType(stop=s, scene_slug=self.tour.scene_slug, position=i)
            for i, s in enumerate(self.tour.stops)
        ]


@strawberry.type(name="LiveSession", description="A scheduled live event in a scene.")
class LiveSessionType:
    session: strawberry.Private[LiveSession]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.session.id)

    @strawberry.field
    async def scene(self, info: CtxInfo, tier: ClientTierEnum = ClientTier.DESKTOP) -> SceneType:
        scene = await info.context.loaders.scenes.load(self.session.scene_slug)
        assert scene is not None
        return SceneType(scene=scene, tier=tier)

    @strawberry.field
    async def title(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.session.title, lang, scene_slug=self.session.scene_slug)
        assert text is not None
        return text

    @strawberry.field
    async def description(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(
            info, self.session.description, lang, scene_slug=self.session.scene_slug
        )

    @strawberry.field
    async def host(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.session.host, lang, scene_slug=self.session.scene_slug)

    @strawberry.field
    def starts_at(self) -> datetime:
        return self.session.starts_at

    @strawberry.field
    def ends_at(self) -> datetime:
        return self.session.ends_at

    @strawberry.field(description="Avatar capacity.")
    def capacity(self) -> int:
        return self.session.capacity

    @strawberry.field
    def visibility(self) -> VisibilityEnum:
        return self.session.visibility

    @strawberry.field
    def status(self) -> LiveSessionStatusEnum:
        return self.session.status

    @strawberry.field
    async def tour(self, info: CtxInfo) -> TourType | None:
        if self.session.tour_key is None:
            return None
        tour = await info.context.loaders.tours.load(
            f"{self.session.scene_slug}:{self.session.tour_key}"
        )
        return None if tour is None else TourType(tour=tour)
