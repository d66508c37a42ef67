"""Shared GraphQL types: enums, localized strings, positions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry
from strawberry.types import Info

from backend.domain.errors import InvalidValue
from backend.domain.geo import BoundingBox, GeoPoint
from backend.domain.i18n import Locale, LocalizedText, parse_locale
from backend.domain.live_session import LiveSessionStatus, Visibility
from backend.domain.poi import AccessFact, MediaKind, PoiCategory
from backend.domain.region import Region
from backend.domain.scene import ClientTier, LayerKind
from backend.live.tokens import Role

if TYPE_CHECKING:
    from backend.api.context import Context

AccessFactEnum = strawberry.enum(
    AccessFact,
    name="AccessFact",
    description="Structured accessibility facts of a POI (docs/scene-manifest.md).",
)
PoiCategoryEnum = strawberry.enum(
    PoiCategory, name="PoiCategory", description="POI categories (docs/scene-manifest.md)."
)
ClientTierEnum = strawberry.enum(
    ClientTier, name="ClientTier", description="Client class; assets are sized for each."
)
LayerKindEnum = strawberry.enum(LayerKind, name="LayerKind")
LiveSessionStatusEnum = strawberry.enum(LiveSessionStatus, name="LiveSessionStatus")
LiveRoleEnum = strawberry.enum(Role, name="LiveRole", description="A role inside a live session.")
VisibilityEnum = strawberry.enum(Visibility, name="Visibility")
MediaKindEnum = strawberry.enum(MediaKind, name="MediaKind")

LANG_DESCRIPTION = "Language tag: ko, en, ja or zh (zh-TW etc. accepted). See LocalizedString."


def parse_lang(argument: str, value: str | None) -> Locale | None:
    """A BCP 47 tag → supported locale; unknown languages are an InvalidValue naming it."""
    if value is None:
        return None
    primary = value.strip().split("-")[0].split("_")[0]
    if not primary:
        raise InvalidValue(argument, "is empty")
    return parse_locale(argument, primary)


@strawberry.type(description="A language and its text.")
class Translation:
    lang: str
    text: str


@strawberry.type(
    description="Text in the caller's language: the `lang` argument, else the query's "
    "`filter.lang`, else Accept-Language. Missing text falls back to the region's default "
    "locales, then ko, en, ja, zh; `lang` tells which language was served."
)
class LocalizedString:
    text: str
    lang: str = strawberry.field(description="The language actually served (after fallback).")
    all: strawberry.Private[LocalizedText]

    @strawberry.field(description="Every language this text exists in.")
    def translations(self) -> list[Translation]:
        return [Translation(lang=locale.value, text=text) for locale, text in self.all]


async def localized(
    info: Info[Context, None],
    text: LocalizedText | None,
    lang: str | None,
    *,
    scene_slug: str | None = None,
    region: Region | None = None,
    default: Locale | None = None,
) -> LocalizedString | None:
    """Resolve ``text`` for the caller: ``lang``, else ``default`` (a query-wide language),
    else Accept-Language; then the region's default locales (of ``region`` or of the scene's
    region), then the global order."""
    if text is None:
        return None
    ctx = info.context
    requested = parse_lang("lang", lang) or default or ctx.accept_locale
    if region is not None:
        defaults: tuple[Locale, ...] = region.default_locales
    elif scene_slug is not None:
        defaults = await ctx.scene_locales(scene_slug)
    else:
        defaults = ()
    resolved = text.resolve(requested, defaults)
    return LocalizedString(text=resolved.text, lang=resolved.locale.value, all=text)


@strawberry.type(description="A WGS84 position; height in metres.")
class GeoPosition:
    lat: float
    lon: float
    height_m: float

    @classmethod
    def of(cls, point: GeoPoint) -> GeoPosition:
        return cls(lat=point.lat_deg, lon=point.lon_deg, height_m=point.height_m)


@strawberry.type(description="A position in scene coordinates: ENU metres from the origin.")
class ScenePosition:
    east_m: float
    north_m: float
    up_m: float

    @classmethod
    def of(cls, xyz: tuple[float, float, float]) -> ScenePosition:
        return cls(east_m=xyz[0], north_m=xyz[1], up_m=xyz[2])


@strawberry.type(
    name="BoundingBox", description="A WGS84 box; west > east crosses the antimeridian."
)
class BoundingBoxType:
    south: float
    west: float
    north: float
    east: float

    @classmethod
    def of(cls, box: BoundingBox) -> BoundingBoxType:
        return cls(south=box.south_deg, west=box.west_deg, north=box.north_deg, east=box.east_deg)
