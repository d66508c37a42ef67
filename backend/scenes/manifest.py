"""The structure of scene manifests (docs/scene-manifest.md). Rules live in the domain;
these models only check shape and types, and forbid unknown keys so typos fail loudly."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

Texts = dict[str, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class BoundsModel(_Strict):
    south: float
    west: float
    north: float
    east: float


class RegionModel(_Strict):
    slug: str
    name: Texts
    province: Texts | None = None
    bounds: BoundsModel
    default_locales: list[str] = Field(min_length=1)
    timezone: str = "Asia/Seoul"


class OriginModel(_Strict):
    lat: float
    lon: float
    height_m: float = 0.0


class ExtentModel(_Strict):
    east: float
    north: float


class SceneInfoModel(_Strict):
    name: Texts
    description: Texts | None = None
    origin: OriginModel
    extent_m: ExtentModel
    moderation: Literal["pre", "post"] = "post"


class HeightfieldSource(_Strict):
    generator: Literal["heightfield"]
    seed: int = 0
    relief_m: float = Field(gt=0, le=9000)
    sea_level_m: float = 0.0
    coast: Literal["none", "north", "east", "south", "west"] = "none"
    land_fraction: float = Field(default=0.75, gt=0, le=1)


class FootprintsSource(_Strict):
    generator: Literal["extruded-footprints"]
    footprints: str


class FileSource(_Strict):
    file: str


LayerSource = HeightfieldSource | FootprintsSource


def _source_kind(value: Any) -> str:
    """Pick the one model to validate against, so errors name only that model's fields."""
    if isinstance(value, dict):
        return "file" if "file" in value else str(value.get("generator", "file"))
    return "file" if isinstance(value, FileSource) else str(value.generator)


SourceModel = Annotated[
    Annotated[HeightfieldSource, Tag("heightfield")]
    | Annotated[FootprintsSource, Tag("extruded-footprints")]
    | Annotated[FileSource, Tag("file")],
    Discriminator(_source_kind),
]


class LayerModel(_Strict):
    key: str
    kind: str
    name: Texts
    source: SourceModel
    # false for plan layers: shown only when a scenario adds them
    baseline: bool = True


class SceneManifest(_Strict):
    schema_version: Literal[1]
    slug: str
    region: RegionModel
    scene: SceneInfoModel
    layers: list[LayerModel] = Field(default_factory=list)


class IntervalModel(_Strict):
    days: str
    opens: str
    closes: str


class MediaModel(_Strict):
    kind: str
    url: str
    caption: Texts | None = None
    attribution: str | None = None
    license: str | None = None


class PoiModel(_Strict):
    key: str
    category: str
    lat: float
    lon: float
    height_m: float = 0.0
    anchor_m: tuple[float, float, float] | None = None
    name: Texts
    description: Texts | None = None
    tags: list[str] = Field(default_factory=list)
    accessibility: Texts | None = None
    access: list[str] = Field(default_factory=list)
    opening_hours: Literal["24/7"] | list[IntervalModel] | None = None
    opening_hours_note: Texts | None = None
    media: list[MediaModel] = Field(default_factory=list)


class PoisFile(_Strict):
    poi: list[PoiModel] = Field(default_factory=list)


class CameraModel(_Strict):
    lat: float | None = None
    lon: float | None = None
    height_m: float | None = None
    position_m: tuple[float, float, float] | None = None
    heading_deg: float
    pitch_deg: float
    roll_deg: float = 0.0
    fov_deg: float = 60.0


class StopModel(_Strict):
    poi: str
    dwell_min: int = 10
    narration: Texts | None = None
    text_alternative: Texts | None = None
    fallback_image: str | None = None
    camera: CameraModel


class TourModel(_Strict):
    key: str
    name: Texts
    description: Texts | None = None
    estimated_duration_min: int | None = None
    stops: list[StopModel]


class ToursFile(_Strict):
    tour: list[TourModel] = Field(default_factory=list)


class LiveSessionModel(_Strict):
    key: str
    title: Texts
    description: Texts | None = None
    starts_at: datetime
    ends_at: datetime
    capacity: int
    visibility: Literal["public", "unlisted"] = "public"
    tour: str | None = None
    host: Texts | None = None


class LiveSessionsFile(_Strict):
    live_session: list[LiveSessionModel] = Field(default_factory=list)


class FigureModel(_Strict):
    key: str
    label: Texts
    value: float
    unit: str


class ChangeModel(_Strict):
    add: str | None = None
    remove: str | None = None
    replace: str | None = None
    with_: str | None = Field(default=None, alias="with")


class PhaseModel(_Strict):
    key: str
    name: Texts
    description: Texts | None = None
    starts_on: date
    ends_on: date | None = None
    changes: list[ChangeModel] = Field(default_factory=list)


class PollModel(_Strict):
    key: str
    question: Texts
    options: list[Texts]
    multiple: bool = False
    closes_on: date | None = None


class ScenarioModel(_Strict):
    key: str
    name: Texts
    description: Texts | None = None
    text_alternative: Texts
    fallback_image: str | None = None
    figure: list[FigureModel] = Field(default_factory=list)
    phase: list[PhaseModel] = Field(default_factory=list)
    poll: list[PollModel] = Field(default_factory=list)


class ScenariosFile(_Strict):
    scenario: list[ScenarioModel] = Field(default_factory=list)


class StampStopModel(_Strict):
    poi: str
    radius_m: float | None = None
    dwell_s: float = 0.0
    riddle: Texts | None = None
    answers: list[str] = Field(default_factory=list)
    hint: Texts | None = None


class StampTourModel(_Strict):
    key: str
    name: Texts
    description: Texts | None = None
    badge: Texts
    stop: list[StampStopModel]


class StampToursFile(_Strict):
    stamp_tour: list[StampTourModel] = Field(default_factory=list)

