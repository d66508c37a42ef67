"""Tours: an ordered walk through POIs of one scene, each stop with a camera pose and narration."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from backend.domain.errors import InvalidValue
from backend.domain.geo import haversine_m, validate_finite
from backend.domain.i18n import LocalizedText
from backend.domain.ids import qualified_id, validate_slug
from backend.domain.poi import Poi

MAX_STOPS = 100
DEFAULT_DWELL_MIN = 10
# A virtual tour flies the camera between stops; about a minute each is what guides plan.
TRANSITION_MIN = 1


@dataclass(frozen=True, slots=True)
class CameraPose:
    """A camera in scene coordinates (ENU metres); heading clockwise from north."""

    position_m: tuple[float, float, float]
    heading_deg: float
    pitch_deg: float
    roll_deg: float = 0.0
    fov_deg: float = 60.0

    def __post_init__(self) -> None:
        for axis, value in zip("xyz", self.position_m, strict=True):
            validate_finite(f"camera.positionM.{axis}", value)
        if not (math.isfinite(self.heading_deg) and 0.0 <= self.heading_deg < 360.0):
            raise InvalidValue("camera.headingDeg", f"{self.heading_deg} is outside [0, 360)")
        if not (math.isfinite(self.pitch_deg) and -90.0 <= self.pitch_deg <= 90.0):
            raise InvalidValue("camera.pitchDeg", f"{self.pitch_deg} is outside [-90, 90]")
        if not (math.isfinite(self.roll_deg) and -180.0 <= self.roll_deg <= 180.0):
            raise InvalidValue("camera.rollDeg", f"{self.roll_deg} is outside [-180, 180]")
        if not (math.isfinite(self.fov_deg) and 0.0 < self.fov_deg < 180.0):
            raise InvalidValue("camera.fovDeg", f"{self.fov_deg} is outside (0, 180)")


@dataclass(frozen=True, slots=True)
class TourStop:
    poi_key: str
    camera: CameraPose
    narration: LocalizedText | None = None
    dwell_min: int = DEFAULT_DWELL_MIN
    # for clients that cannot render 3D: what the stop shows, in words (else the
    # narration stands in), and a 2D picture or panorama of the view
    text_alternative: LocalizedText | None = None
    fallback_image_url: str | None = None

    def __post_init__(self) -> None:
        validate_slug("stop.poi", self.poi_key)
        if self.fallback_image_url is not None and not self.fallback_image_url.startswith(
            ("https://", "/")
        ):
            raise InvalidValue("stop.fallbackImageUrl", "must be https:// or a site path")
        if not 0 < self.dwell_min <= 24 * 60:
            raise InvalidValue("stop.dwellMin", f"{self.dwell_min} must be in 1..1440 minutes")


@dataclass(frozen=True, slots=True)
class Tour:
    scene_slug: str
    key: str
    name: LocalizedText
    stops: tuple[TourStop, ...]
    description: LocalizedText | None = None
    estimated_duration_min: int | None = None

    def __post_init__(self) -> None:
        validate_slug("tour.sceneSlug", self.scene_slug)
        validate_slug("tour.key", self.key)
        if not self.stops:
            raise InvalidValue("tour.stops", "a tour needs at least one stop")
        if len(self.stops) > MAX_STOPS:
            raise InvalidValue("tour.stops", f"at most {MAX_STOPS} stops")
        if self.estimated_duration_min is not None and self.estimated_duration_min <= 0:
            raise InvalidValue("tour.estimatedDurationMin", "must be > 0")

    @property
    def id(self) -> str:
        return qualified_id(self.scene_slug, self.key)

    def check_stops(self, scene_pois: Mapping[str, Poi]) -> None:
        """Every stop must name a POI of this tour's own scene (keyed by POI key)."""
        for index, stop in enumerate(self.stops):
            poi = scene_pois.get(stop.poi_key)
            if poi is None or poi.scene_slug != self.scene_slug:
                raise InvalidValue(
                    f"stops[{index}].poi",
                    f"{stop.poi_key!r} is not a POI of scene {self.scene_slug!r}",
                )

    def duration_min(self) -> int:
        """The declared duration, else dwell times plus a camera transition between stops."""
        if self.estimated_duration_min is not None:
            return self.estimated_duration_min
        dwell = sum(stop.dwell_min for stop in self.stops)
        return dwell + TRANSITION_MIN * (len(self.stops) - 1)

    def route_length_m(self, scene_pois: Mapping[str, Poi]) -> float:
        """Great-circle length of the path through the stops' POIs, in order."""
        points = [scene_pois[stop.poi_key].location for stop in self.stops]
        return sum(
            haversine_m(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg)
            for a, b in itertools.pairwise(points)
        )
