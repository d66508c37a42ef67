"""Points of interest: what a visitor can find, filter and visit in a scene."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from backend.domain.errors import InvalidValue
from backend.domain.geo import GeoPoint
from backend.domain.i18n import LocalizedText
from backend.domain.ids import qualified_id, validate_slug
from backend.domain.opening_hours import OpeningHours

MAX_TAGS = 32
MAX_TAG_CHARS = 40
MAX_MEDIA = 20


class PoiCategory(str, Enum):
    """The category vocabulary (documented in docs/scene-manifest.md)."""

    ATTRACTION = "attraction"
    HERITAGE = "heritage"
    RELIGIOUS_SITE = "religious-site"
    MUSEUM = "museum"
    NATURE = "nature"
    BEACH = "beach"
    TRAIL = "trail"
    VIEWPOINT = "viewpoint"
    FOOD = "food"
    CAFE = "cafe"
    LODGING = "lodging"
    SHOPPING = "shopping"
    TRANSPORT = "transport"
    PARKING = "parking"
    FACILITY = "facility"
    EVENT_VENUE = "event-venue"
    DEVELOPMENT_SITE = "development-site"
    PUBLIC_OFFICE = "public-office"


def parse_category(field: str, value: str) -> PoiCategory:
    try:
        return PoiCategory(value)
    except ValueError:
        known = ", ".join(c.value for c in PoiCategory)
        raise InvalidValue(field, f"unknown category {value!r}; known: {known}") from None


class MediaKind(str, Enum):
    IMAGE = "image"
    PANORAMA = "panorama"
    VIDEO = "video"
    AUDIO = "audio"
    MODEL = "model"


@dataclass(frozen=True, slots=True)
class MediaRef:
    kind: MediaKind
    url: str
    caption: LocalizedText | None = None
    attribution: str | None = None
    license: str | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith("https://") or len(self.url) > 2048 or " " in self.url:
            raise InvalidValue("media.url", f"{self.url[:80]!r} must be an https:// URL")


def normalize_tags(field: str, tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if len(tags) > MAX_TAGS:
        raise InvalidValue(field, f"has {len(tags)} tags; at most {MAX_TAGS}")
    seen: list[str] = []
    for i, tag in enumerate(tags):
        clean = tag.strip().lower()
        if not clean or len(clean) > MAX_TAG_CHARS:
            raise InvalidValue(f"{field}[{i}]", f"must be 1..{MAX_TAG_CHARS} characters")
        if clean not in seen:
            seen.append(clean)
    return tuple(seen)


class AccessFact(str, Enum):
    """Structured accessibility facts a client can filter and show as icons; the free
    ``accessibility`` text says the rest."""

    STEP_FREE_ENTRANCE = "step-free-entrance"
    STEP_FREE_ROUTE = "step-free-route"  # the visit itself, not only the door
    ACCESSIBLE_TOILET = "accessible-toilet"
    ACCESSIBLE_PARKING = "accessible-parking"
    ELEVATOR = "elevator"
    WHEELCHAIR_LOAN = "wheelchair-loan"
    BRAILLE = "braille"
    AUDIO_GUIDE = "audio-guide"
    SIGN_LANGUAGE = "sign-language"
    ASSISTANCE_DOGS = "assistance-dogs"
    NURSING_ROOM = "nursing-room"
    MANY_STEPS = "many-steps"  # a warning, as useful as a promise


@dataclass(frozen=True, slots=True)
class Poi:
    scene_slug: str
    key: str
    category: PoiCategory
    location: GeoPoint
    name: LocalizedText
    description: LocalizedText | None = None
    anchor_m: tuple[float, float, float] | None = None
    tags: tuple[str, ...] = ()
    opening_hours: OpeningHours | None = None
    opening_hours_note: LocalizedText | None = None
    accessibility: LocalizedText | None = None
    media: tuple[MediaRef, ...] = ()
    access: frozenset[AccessFact] = frozenset()

    def __post_init__(self) -> None:
        validate_slug("poi.sceneSlug", self.scene_slug)
        if {AccessFact.STEP_FREE_ROUTE, AccessFact.MANY_STEPS} <= self.access:
            raise InvalidValue("poi.access", "step-free-route and many-steps contradict")
        validate_slug("poi.key", self.key)
        if len(self.media) > MAX_MEDIA:
            raise InvalidValue("poi.media", f"at most {MAX_MEDIA} entries")

    @property
    def id(self) -> str:
        return qualified_id(self.scene_slug, self.key)
