"""GraphQL input types and their conversion to domain values (rules stay in the domain)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from backend.api.types.common import (
    LANG_DESCRIPTION,
    AccessFactEnum,
    MediaKindEnum,
    PoiCategoryEnum,
    VisibilityEnum,
    parse_lang,
)
from backend.domain.errors import InvalidValue
from backend.domain.geo import BoundingBox, GeoPoint, NearCircle
from backend.domain.i18n import Locale, LocalizedText
from backend.domain.ids import validate_slug
from backend.domain.live_session import LiveSession, Visibility
from backend.domain.opening_hours import OpeningHours, WeeklyInterval, parse_days, parse_time
from backend.domain.poi import AccessFact, MediaRef, Poi, PoiCategory, normalize_tags
from backend.domain.poi_query import PoiFilter
from backend.domain.text_search import TextQuery
from backend.domain.tour import CameraPose, Tour, TourStop


@strawberry.input(description="A WGS84 box: south <= north; west > east crosses ±180°.")
class BoundingBoxInput:
    south: float
    west: float
    north: float
    east: float


@strawberry.input(description="Within `radiusM` metres of a point (great-circle distance).")
class NearInput:
    lat: float
    lon: float
    radius_m: float


@strawberry.input(description="All given conditions must hold.")
class PoiFilterInput:
    scene_slug: str | None = None
    bbox: BoundingBoxInput | None = None
    near: NearInput | None = strawberry.field(
        default=None, description="Results come nearest first, with `distanceM` on each edge."
    )
    categories: list[PoiCategoryEnum] | None = None
    text: str | None = strawberry.field(
        default=None,
        description="Substring search in names, descriptions, accessibility notes and tags, "
        "in every language (Korean fragments of one or two syllables work).",
    )
    lang: str | None = strawberry.field(
        default=None, description="Language for the results' text. " + LANG_DESCRIPTION
    )


def to_filter(value: PoiFilterInput | None) -> tuple[PoiFilter, Locale | None]:
    if value is None:
        return PoiFilter(), None
    bbox = near = text = None
    if value.bbox is not None:
        b = value.bbox
        bbox = BoundingBox.of("filter.bbox", b.south, b.west, b.north, b.east)
    if value.near is not None:
        near = NearCircle.of("filter.near", value.near.lat, value.near.lon, value.near.radius_m)
    if value.text is not None:
        text = TextQuery.parse("filter.text", value.text)
    if value.scene_slug is not None:
        validate_slug("filter.sceneSlug", value.scene_slug)
    categories: frozenset[PoiCategory] | None = None
    if value.categories:
        categories = frozenset(value.categories)
    where = PoiFilter(
        scene_slug=value.scene_slug, bbox=bbox, near=near, categories=categories, text=text
    )
    return where, parse_lang("filter.lang", value.lang)


@strawberry.input
class TranslationInput:
    lang: str
    text: str


def texts(field: str, values: list[TranslationInput] | None) -> LocalizedText | None:
    if not values:
        return None
    out: dict[Locale, str] = {}
    for i, item in enumerate(values):
        locale = parse_lang(f"{field}[{i}].lang", item.lang)
        assert locale is not None
        if locale in out:
            raise InvalidValue(f"{field}[{i}].lang", f"{locale.value!r} is given twice")
        out[locale] = item.text
    return LocalizedText.of(field, out)


def required_texts(field: str, values: list[TranslationInput]) -> LocalizedText:
    text = texts(field, values)
    if text is None:
        raise InvalidValue(field, "needs text in at least one language")
    return text


@strawberry.input
class GeoPositionInput:
    lat: float
    lon: float
    height_m: float = 0.0


@strawberry.input
class ScenePositionInput:
    east_m: float
    north_m: float
    up_m: float


@strawberry.input(description="Days like 'mo-fr', 'sa,su'; times HH:MM (local).")
class OpeningIntervalInput:
    days: str
    opens: str
    closes: str


@strawberry.input
class OpeningHoursInput:
    always_open: bool = False
    intervals: list[OpeningIntervalInput] = strawberry.field(default_factory=list)


def opening_hours(value: OpeningHoursInput | None) -> OpeningHours | None:
    if value is None:
        return None
    return OpeningHours(
        always_open=value.always_open,
        intervals=tuple(
            WeeklyInterval(
                parse_days(f"input.openingHours.intervals[{i}].days", iv.days),
                parse_time(f"input.openingHours.intervals[{i}].opens", iv.opens),
                parse_time(f"input.openingHours.intervals[{i}].closes", iv.closes),
            )
            for i, iv in enumerate(value.intervals)
        ),
    )


@strawberry.input
class MediaInput:
    kind: MediaKindEnum
    url: str
    caption: list[TranslationInput] | None = None
    attribution: str | None = None
    license: str | None = None


@strawberry.input(description="The content of a POI; the id comes from scene and key.")
class PoiInput:
    category: PoiCategoryEnum
    location: GeoPositionInput
    name: list[TranslationInput]
    anchor: ScenePositionInput | None = strawberry.field(
        default=None, description="Computed from `location` when absent."
    )
    description: list[TranslationInput] | None = None
    tags: list[str] = strawberry.field(default_factory=list)
    opening_hours: OpeningHoursInput | None = None
    opening_hours_note: list[TranslationInput] | None = None
    accessibility: list[TranslationInput] | None = None
    access: list[AccessFactEnum] = strawberry.field(default_factory=list)
    media: list[MediaInput] = strawberry.field(default_factory=list)


def to_poi(scene_slug: str, key: str, value: PoiInput) -> Poi:
    loc = value.location
    anchor = value.anchor
    return Poi(
        scene_slug=validate_slug("sceneSlug", scene_slug),
        key=validate_slug("key", key),
        category=value.category,
        location=GeoPoint.of("input.location", loc.lat, loc.lon, loc.height_m),
        name=required_texts("input.name", value.name),
        description=texts("input.description", value.description),
        anchor_m=None if anchor is None else (anchor.east_m, anchor.north_m, anchor.up_m),
        tags=normalize_tags("input.tags", value.tags),
        opening_hours=opening_hours(value.opening_hours),
        opening_hours_note=texts("input.openingHoursNote", value.opening_hours_note),
        accessibility=texts("input.accessibility", value.accessibility),
        # strawberry hands back the domain enum itself (AccessFactEnum wraps AccessFact)
        access=frozenset(AccessFact(fact) for fact in value.access),
        media=tuple(
            MediaRef(
                kind=m.kind,
                url=m.url,
                caption=texts(f"input.media[{i}].caption", m.caption),
                attribution=m.attribution,
                license=m.license,
            )
            for i, m in enumerate(value.media)
        ),
    )


@strawberry.input
class CameraPoseInput:
    position: ScenePositionInput
    heading_deg: float
    pitch_deg: float
    roll_deg: float = 0.0
    fov_deg: float = 60.0


@strawberry.input
class TourStopInput:
    poi_key: str = strawberry.field(description="Key of a POI of the tour's scene.")
    camera: CameraPoseInput
    dwell_min: int = 10
    narration: list[TranslationInput] | None = None
    text_alternative: list[TranslationInput] | None = strawberry.field(
        default=None, description="What the stop shows, in words (defaults to narration)."
    )
    fallback_image_url: str | None = strawberry.field(
        default=None, description="A 2D picture or panorama for clients without 3D."
    )


@strawberry.input
class TourInput:
    name: list[TranslationInput]
    stops: list[TourStopInput]
    description: list[TranslationInput] | None = None
    estimated_duration_min: int | None = None


def to_tour(scene_slug: str, key: str, value: TourInput) -> Tour:
    stops = []
    for i, s in enumerate(value.stops):
        try:
            p = s.camera.position
            stops.append(
                TourStop(
                    poi_key=s.poi_key,
                    camera=CameraPose(
                        (p.east_m, p.north_m, p.up_m),
                        s.camera.heading_deg,
                        s.camera.pitch_deg,
                        s.camera.roll_deg,
                        s.camera.fov_deg,
                    ),
                    narration=texts("narration", s.narration),
                    dwell_min=s.dwell_min,
                    text_alternative=texts("textAlternative", s.text_alternative),
                    fallback_image_url=s.fallback_image_url,
                )
            )
        except InvalidValue as error:
            raise error.under(f"input.stops[{i}]") from None
    return Tour(
        scene_slug=validate_slug("sceneSlug", scene_slug),
        key=validate_slug("key", key),
        name=required_texts("input.name", value.name),
        description=texts("input.description", value.description),
        estimated_duration_min=value.estimated_duration_min,
        stops=tuple(stops),
    )


@strawberry.input
class LiveSessionInput:
    title: list[TranslationInput]
    starts_at: datetime
    ends_at: datetime
    capacity: int
    visibility: VisibilityEnum = Visibility.PUBLIC
    description: list[TranslationInput] | None = None
    host: list[TranslationInput] | None = None
    tour_key: str | None = None


def to_live_session(scene_slug: str, key: str, value: LiveSessionInput) -> LiveSession:
    return LiveSession(
        scene_slug=validate_slug("sceneSlug", scene_slug),
        key=validate_slug("key", key),
        title=required_texts("input.title", value.title),
        description=texts("input.description", value.description),
        host=texts("input.host", value.host),
        starts_at=value.starts_at,
        ends_at=value.ends_at,
        capacity=value.capacity,
        visibility=value.visibility,
        tour_key=value.tour_key,
    )
