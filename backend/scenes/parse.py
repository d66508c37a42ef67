"""Scene folder → domain objects. Every error names the file, the field and the reason."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from backend.domain.errors import DomainError, InvalidValue
from backend.domain.geo import BoundingBox, GeoPoint
from backend.domain.i18n import LocalizedText
from backend.domain.ids import validate_slug
from backend.domain.live_session import LiveSession, Visibility
from backend.domain.opening_hours import OpeningHours, WeeklyInterval, parse_days, parse_time
from backend.domain.poi import AccessFact, MediaKind, MediaRef, Poi, normalize_tags, parse_category
from backend.domain.region import Region, parse_locales, validate_timezone
from backend.domain.scene import Georeference, Layer, LayerKind, Scene
from backend.domain.tour import CameraPose, Tour, TourStop
from backend.domain.poll import Poll
from backend.domain.scenario import Scenario
from backend.domain.stamps import StampTour
from backend.scenes import manifest as m
from backend.scenes.scenario_parse import polls_from, scenario_from, stamp_tour_from

MAX_MANIFEST_BYTES = 8 * 1024 * 1024
Model = TypeVar("Model", bound=BaseModel)
Built = TypeVar("Built")


class ManifestError(DomainError):
    """One problem in one manifest file."""

    code = "manifest_invalid"

    def __init__(self, file: Path, field: str, reason: str) -> None:
        super().__init__(f"{file}: {field}: {reason}" if field else f"{file}: {reason}")
        self.file = file
        self.field = field
        self.reason = reason


class ManifestErrors(DomainError):
    """Everything wrong with a load, so a content team can fix it in one pass."""

    code = "manifest_invalid"

    def __init__(self, errors: list[ManifestError]) -> None:
        super().__init__("\n".join(error.message for error in errors))
        self.errors = errors


@dataclass
class ScenePackage:
    folder: Path
    region: Region
    scene: Scene
    layer_sources: dict[str, m.LayerSource | m.FileSource]
    pois: list[Poi] = field(default_factory=list)
    tours: list[Tour] = field(default_factory=list)
    live_sessions: list[LiveSession] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)
    polls: list[Poll] = field(default_factory=list)
    stamp_tours: list[StampTour] = field(default_factory=list)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[ManifestError] = []

    @contextmanager
    def at(self, file: Path, prefix: str = "") -> Iterator[None]:
        """Record a domain error raised inside, with its field placed under ``prefix``."""
        try:
            yield
        except InvalidValue as error:
            path = f"{prefix}.{error.field}" if prefix else error.field
            self.errors.append(ManifestError(file, path, error.reason))
        except DomainError as error:
            self.errors.append(ManifestError(file, prefix, error.message))


def _load_toml(file: Path, model: type[Model], errors: _Collector) -> Model | None:
    try:
        if file.stat().st_size > MAX_MANIFEST_BYTES:
            errors.errors.append(ManifestError(file, "", "is larger than 8 MiB"))
            return None
        data = tomllib.loads(file.read_text(encoding="utf-8"))
        return model.model_validate(data)
    except (OSError, UnicodeDecodeError) as error:
        errors.errors.append(ManifestError(file, "", f"cannot be read: {error}"))
    except tomllib.TOMLDecodeError as error:
        errors.errors.append(ManifestError(file, "", f"is not valid TOML: {error}"))
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"])
            errors.errors.append(ManifestError(file, where, problem["msg"]))
    return None


def _texts(field_name: str, values: dict[str, str]) -> LocalizedText:
    return LocalizedText.of(field_name, values)


def _opt_texts(field_name: str, values: dict[str, str] | None) -> LocalizedText | None:
    return LocalizedText.optional(field_name, values)


def parse_opening_hours(
    spec: str | list[m.IntervalModel] | None,
) -> OpeningHours | None:
    if spec is None or spec == []:
        return None
    if spec == "24/7":
        return OpeningHours(always_open=True)
    assert isinstance(spec, list)
    return OpeningHours(
        always_open=False,
        intervals=tuple(
            WeeklyInterval(
                parse_days(f"opening_hours[{i}].days", interval.days),
                parse_time(f"opening_hours[{i}].opens", interval.opens),
                parse_time(f"opening_hours[{i}].closes", interval.closes),
            )
            for i, interval in enumerate(spec)
        ),
    )


def _region(data: m.RegionModel) -> Region:
    return Region(
        slug=validate_slug("slug", data.slug),
        name=_texts("name", data.name),
        province=_opt_texts("province", data.province),
        bounds=BoundingBox.of(
            "bounds", data.bounds.south, data.bounds.west, data.bounds.north, data.bounds.east
        ),
        default_locales=parse_locales("default_locales", data.default_locales),
        timezone=validate_timezone("timezone", data.timezone),
    )


def _layer(data: m.LayerModel) -> Layer:
    try:
        kind = LayerKind(data.kind)
    except ValueError:
        known = ", ".join(k.value for k in LayerKind)
        raise InvalidValue("kind", f"unknown layer kind {data.kind!r}; known: {known}") from None
    return Layer(
        key=validate_slug("key", data.key),
        kind=kind,
        name=_texts("name", data.name),
        baseline=data.baseline,
    )


def access_facts(field_name: str, values: list[str]) -> frozenset[AccessFact]:
    facts = set()
    for i, value in enumerate(values):
        try:
            facts.add(AccessFact(value))
        except ValueError:
            known = ", ".join(f.value for f in AccessFact)
            raise InvalidValue(f"{field_name}[{i}]", f"unknown {value!r}; known: {known}") from None
    return frozenset(facts)


def _poi(scene: Scene, data: m.PoiModel) -> Poi:
    location = GeoPoint.of("", data.lat, data.lon, data.height_m)
    anchor = data.anchor_m or scene.georeference.frame.to_enu(location)
    return Poi(
        scene_slug=scene.slug,
        key=validate_slug("key", data.key),
        category=parse_category("category", data.category),
        location=location,
        name=_texts("name", data.name),
        description=_opt_texts("description", data.description),
        anchor_m=anchor,
        tags=normalize_tags("tags", data.tags),
        opening_hours=parse_opening_hours(data.opening_hours),
        opening_hours_note=_opt_texts("opening_hours_note", data.opening_hours_note),
        accessibility=_opt_texts("accessibility", data.accessibility),
        access=access_facts("access", data.access),
        media=tuple(_media(f"media[{i}]", item) for i, item in enumerate(data.media)),
    )


def _media(field_name: str, data: m.MediaModel) -> MediaRef:
    try:
        kind = MediaKind(data.kind)
    except ValueError:
        raise InvalidValue(f"{field_name}.kind", f"unknown media kind {data.kind!r}") from None
    return MediaRef(
        kind=kind,
        url=data.url,
        caption=_opt_texts(f"{field_name}.caption", data.caption),
        attribution=data.attribution,
        license=data.license,
    )


def camera_pose(scene: Scene, data: m.CameraModel) -> CameraPose:
    """A stop's camera from scene coordinates, or from WGS84 converted into them."""
    if data.position_m is not None:
        if data.lat is not None or data.lon is not None:
            raise InvalidValue("camera", "give either position_m or lat/lon, not both")
        position = data.position_m
    elif data.lat is not None and data.lon is not None:
        point = GeoPoint.of("camera", data.lat, data.lon, data.height_m or 0.0)
        position = scene.georeference.frame.to_enu(point)
    else:
        raise InvalidValue("camera", "needs position_m or lat and lon")
    return CameraPose(position, data.heading_deg, data.pitch_deg, data.roll_deg, data.fov_deg)


def _tour(scene: Scene, data: m.TourModel, pois: dict[str, Poi]) -> Tour:
    stops: list[TourStop] = []
    for i, stop in enumerate(data.stops):
        try:
            stops.append(
                TourStop(
                    poi_key=stop.poi,
                    camera=camera_pose(scene, stop.camera),
                    narration=_opt_texts("narration", stop.narration),
                    dwell_min=stop.dwell_min,
                    text_alternative=_opt_texts("text_alternative", stop.text_alternative),
                    fallback_image_url=stop.fallback_image,
                )
            )
        except InvalidValue as error:
            raise error.under(f"stops[{i}]") from None
    tour = Tour(
        scene_slug=scene.slug,
        key=validate_slug("key", data.key),
        name=_texts("name", data.name),
        description=_opt_texts("description", data.description),
        estimated_duration_min=data.estimated_duration_min,
        stops=tuple(stops),
    )
    tour.check_stops(pois)
    return tour


def _live_session(scene: Scene, data: m.LiveSessionModel, tour_keys: set[str]) -> LiveSession:
    if data.tour is not None and data.tour not in tour_keys:
        raise InvalidValue("tour", f"{data.tour!r} is not a tour of scene {scene.slug!r}")
    return LiveSession(
        scene_slug=scene.slug,
        key=validate_slug("key", data.key),
        title=_texts("title", data.title),
        description=_opt_texts("description", data.description),
        host=_opt_texts("host", data.host),
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        capacity=data.capacity,
        visibility=Visibility(data.visibility),
        tour_key=data.tour,
    )


def _each(
    items: list[Model],
    file: Path,
    table: str,
    errors: _Collector,
    build: Callable[[Model], Built],
) -> list[Built]:
    built: list[Built] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = str(getattr(item, "key", i))
        if key in seen:
            errors.errors.append(ManifestError(file, f"{table}[{i}].key", f"duplicate key {key!r}"))
            continue
        seen.add(key)
        with errors.at(file, f"{table}[{i}]"):
            built.append(build(item))
    return built


def read_scene_folder(folder: Path) -> ScenePackage:
    """Parse and validate one scene folder completely, or raise ManifestErrors."""
    errors = _Collector()
    scene_file = folder / "scene.toml"
    if not scene_file.is_file():
        raise ManifestErrors([ManifestError(scene_file, "", "is missing")])
    data = _load_toml(scene_file, m.SceneManifest, errors)
    if data is None:
        raise ManifestErrors(errors.errors)
    package: ScenePackage | None = None
    with errors.at(scene_file):
        if data.slug != folder.name:
            raise InvalidValue("slug", f"{data.slug!r} must equal the folder name {folder.name!r}")
        with errors.at(scene_file, "region"):
            region = _region(data.region)
        layers: list[Layer] = []
        for i, layer in enumerate(data.layers):
            with errors.at(scene_file, f"layers[{i}]"):
                layers.append(_layer(layer))
        if errors.errors:
            raise ManifestErrors(errors.errors)
        info = data.scene
        scene = Scene(
            slug=validate_slug("slug", data.slug),
            region_slug=region.slug,
            name=_texts("scene.name", info.name),
            description=_opt_texts("scene.description", info.description),
            georeference=Georeference(
                GeoPoint.of("scene.origin", info.origin.lat, info.origin.lon, info.origin.height_m),
                info.extent_m.east,
                info.extent_m.north,
            ),
            layers=tuple(layers),
            moderation=info.moderation,
        )
        package = ScenePackage(
            folder, region, scene, {layer.key: layer.source for layer in data.layers}
        )
    if package is None or errors.errors:
        raise ManifestErrors(errors.errors)
    _read_contents(package, errors)
    if errors.errors:
        raise ManifestErrors(errors.errors)
    return package


def _read_contents(package: ScenePackage, errors: _Collector) -> None:
    scene = package.scene
    folder = package.folder
    pois_file = folder / "pois.toml"
    if pois_file.is_file() and (pois := _load_toml(pois_file, m.PoisFile, errors)):
        package.pois = _each(pois.poi, pois_file, "poi", errors, lambda p: _poi(scene, p))
    by_key = {poi.key: poi for poi in package.pois}
    tours_file = folder / "tours.toml"
    if tours_file.is_file() and (tours := _load_toml(tours_file, m.ToursFile, errors)):
        package.tours = _each(
            tours.tour, tours_file, "tour", errors, lambda t: _tour(scene, t, by_key)
        )
    scenarios_file = folder / "scenarios.toml"
    if scenarios_file.is_file() and (
        scenarios := _load_toml(scenarios_file, m.ScenariosFile, errors)
    ):
        package.scenarios = _each(
            scenarios.scenario,
            scenarios_file,
            "scenario",
            errors,
            lambda s: scenario_from(package.scene, s),
        )
        package.polls = [
            poll for model in scenarios.scenario for poll in polls_from(package.scene, model)
        ]
    stamps_file = folder / "stamp-tours.toml"
    if stamps_file.is_file() and (
        stamp_tours := _load_toml(stamps_file, m.StampToursFile, errors)
    ):
        package.stamp_tours = _each(
            stamp_tours.stamp_tour,
            stamps_file,
            "stamp_tour",
            errors,
            lambda t: stamp_tour_from(scene, t, by_key),
        )
    tour_keys = {t.key for t in package.tours}
    sessions_file = folder / "live-sessions.toml"
    if sessions_file.is_file() and (
        sessions := _load_toml(sessions_file, m.LiveSessionsFile, errors)
    ):
        package.live_sessions = _each(
            sessions.live_session,
            sessions_file,
            "live_session",
            errors,
            lambda s: _live_session(scene, s, tour_keys),
        )
