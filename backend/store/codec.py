"""Row ↔ domain mapping. Rows were validated on the way in, so reading trusts them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import Any

from backend.domain.geo import BoundingBox, GeoPoint
from backend.domain.i18n import Locale, LocalizedText
from backend.domain.live_session import LiveSession, LiveSessionStatus, Visibility
from backend.domain.opening_hours import OpeningHours, WeeklyInterval
from backend.domain.poi import AccessFact, MediaKind, MediaRef, Poi, PoiCategory
from backend.domain.publishing import JobFailure, JobKind, JobStatus, PublishJob, SceneVersion
from backend.domain.region import Region
from backend.domain.scene import ClientTier, Georeference, Layer, LayerAsset, LayerKind, Scene
from backend.domain.text_search import index_tokens, normalize, search_text
from backend.domain.tour import CameraPose, TourStop

Row = Mapping[Any, Any]  # SQLAlchemy RowMapping is keyed by Any


def text_out(value: LocalizedText | None) -> dict[str, str] | None:
    return None if value is None else value.as_dict()


def text_in(value: Mapping[str, str] | None) -> LocalizedText | None:
    if not value:
        return None
    return LocalizedText(tuple((loc, value[loc.value]) for loc in Locale if loc.value in value))


def required_text_in(value: Mapping[str, str]) -> LocalizedText:
    text = text_in(value)
    assert text is not None, "required localized column is empty"
    return text


def region_row(region: Region) -> dict[str, Any]:
    return {
        "slug": region.slug,
        "name": text_out(region.name),
        "province": text_out(region.province),
        "south_deg": region.bounds.south_deg,
        "west_deg": region.bounds.west_deg,
        "north_deg": region.bounds.north_deg,
        "east_deg": region.bounds.east_deg,
        "default_locales": [locale.value for locale in region.default_locales],
        "timezone": region.timezone,
    }


def region_from(row: Row) -> Region:
    return Region(
        slug=row["slug"],
        name=required_text_in(row["name"]),
        province=text_in(row["province"]),
        bounds=BoundingBox(row["south_deg"], row["west_deg"], row["north_deg"], row["east_deg"]),
        default_locales=tuple(Locale(v) for v in row["default_locales"]),
        timezone=row["timezone"],
    )


def _layer_out(layer: Layer) -> dict[str, Any]:
    return {
        "key": layer.key,
        "kind": layer.kind.value,
        "name": text_out(layer.name),
        "assets": [
            {
                "tier": asset.tier.value,
                "sha256": asset.sha256,
                "media_type": asset.media_type,
                "byte_size": asset.byte_size,
                "triangle_count": asset.triangle_count,
                "tileset_sha256": asset.tileset_sha256,
            }
            for asset in layer.assets
        ],
        "source_digest": layer.source_digest,
        "baseline": layer.baseline,
    }


def _layer_in(value: Mapping[str, Any]) -> Layer:
    return Layer(
        key=value["key"],
        kind=LayerKind(value["kind"]),
        name=required_text_in(value["name"]),
        assets=tuple(
            LayerAsset(
                tier=ClientTier(a["tier"]),
                sha256=a["sha256"],
                media_type=a["media_type"],
                byte_size=a["byte_size"],
                triangle_count=a["triangle_count"],
                tileset_sha256=a.get("tileset_sha256"),  # absent in rows written before
            )
            for a in value["assets"]
        ),
        source_digest=value.get("source_digest"),
        baseline=value.get("baseline", True),  # absent in rows written before
    )


def scene_row(scene: Scene) -> dict[str, Any]:
    geo = scene.georeference
    return {
        "slug": scene.slug,
        "region_slug": scene.region_slug,
        "name": text_out(scene.name),
        "description": text_out(scene.description),
        "origin_lat_deg": geo.origin.lat_deg,
        "origin_lon_deg": geo.origin.lon_deg,
        "origin_height_m": geo.origin.height_m,
        "extent_east_m": geo.extent_east_m,
        "extent_north_m": geo.extent_north_m,
        "layers": layers_out(scene.layers),
        "version": scene.version,
        "moderation": scene.moderation,
    }


def layers_out(layers: tuple[Layer, ...]) -> list[dict[str, Any]]:
    return [_layer_out(layer) for layer in layers]


def layers_in(values: list[Mapping[str, Any]]) -> tuple[Layer, ...]:
    return tuple(_layer_in(layer) for layer in values)


def scene_from(row: Row) -> Scene:
    return Scene(
        slug=row["slug"],
        region_slug=row["region_slug"],
        name=required_text_in(row["name"]),
        description=text_in(row["description"]),
        georeference=Georeference(
            GeoPoint(row["origin_lat_deg"], row["origin_lon_deg"], row["origin_height_m"]),
            row["extent_east_m"],
            row["extent_north_m"],
        ),
        layers=layers_in(row["layers"]),
        version=row["version"],
        moderation=row["moderation"],
    )


def scene_version_row(version: SceneVersion) -> dict[str, Any]:
    return {
        "scene_slug": version.scene_slug,
        "version": version.version,
        "layers": layers_out(version.layers),
        "published_at": version.published_at,
        "job_id": version.job_id,
    }


def scene_version_from(row: Row) -> SceneVersion:
    return SceneVersion(
        scene_slug=row["scene_slug"],
        version=row["version"],
        layers=layers_in(row["layers"]),
        published_at=row["published_at"],
        job_id=row["job_id"],
    )


def publish_job_row(job: PublishJob) -> dict[str, Any]:
    failure = job.failure
    return {
        "id": job.id,
        "scene_slug": job.scene_slug,
        "kind": job.kind.value,
        "status": job.status.value,
        "base_version": job.base_version,
        "layer_key": job.layer_key,
        "upload_sha256": job.upload_sha256,
        "upload_name": job.upload_name,
        "source_path": job.source_path,
        "step": job.step,
        "progress": job.progress,
        "attempts": job.attempts,
        "error_code": failure.code if failure else None,
        "error_message": failure.message if failure else None,
        "error_retryable": failure.retryable if failure else None,
        "result_version": job.result_version,
        "unchanged": job.unchanged,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def publish_job_from(row: Row) -> PublishJob:
    failure = (
        JobFailure(row["error_code"], row["error_message"] or "", bool(row["error_retryable"]))
        if row["error_code"]
        else None
    )
    return PublishJob(
        id=row["id"],
        scene_slug=row["scene_slug"],
        kind=JobKind(row["kind"]),
        status=JobStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        base_version=row["base_version"],
        layer_key=row["layer_key"],
        upload_sha256=row["upload_sha256"],
        upload_name=row["upload_name"],
        source_path=row["source_path"],
        step=row["step"],
        progress=row["progress"],
        attempts=row["attempts"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        failure=failure,
        result_version=row["result_version"],
        unchanged=row["unchanged"],
    )


def _hours_out(hours: OpeningHours | None) -> dict[str, Any] | None:
    if hours is None:
        return None
    return {
        "always_open": hours.always_open,
        "intervals": [
            {
                "weekdays": sorted(i.weekdays),
                "opens": i.opens.isoformat(),
                "closes": i.closes.isoformat(),
            }
            for i in hours.intervals
        ],
    }


def _hours_in(value: Mapping[str, Any] | None) -> OpeningHours | None:
    if value is None:
        return None
    return OpeningHours(
        always_open=value["always_open"],
        intervals=tuple(
            WeeklyInterval(
                frozenset(i["weekdays"]),
                time.fromisoformat(i["opens"]),
                time.fromisoformat(i["closes"]),
            )
            for i in value["intervals"]
        ),
    )


def poi_row(poi: Poi, origin: str) -> dict[str, Any]:
    texts = [*poi.name.texts()]
    for extra in (poi.description, poi.accessibility):
        if extra is not None:
            texts.extend(extra.texts())
    texts.extend(poi.tags)
    return {
        "id": poi.id,
        "scene_slug": poi.scene_slug,
        "key": poi.key,
        "category": poi.category.value,
        "lat_deg": poi.location.lat_deg,
        "lon_deg": poi.location.lon_deg,
        "height_m": poi.location.height_m,
        "anchor_m": list(poi.anchor_m) if poi.anchor_m is not None else None,
        "name": text_out(poi.name),
        "description": text_out(poi.description),
        "tags": list(poi.tags),
        "opening_hours": _hours_out(poi.opening_hours),
        "opening_hours_note": text_out(poi.opening_hours_note),
        "accessibility": text_out(poi.accessibility),
        "access": sorted(fact.value for fact in poi.access),
        "media": [
            {
                "kind": m.kind.value,
                "url": m.url,
                "caption": text_out(m.caption),
                "attribution": m.attribution,
                "license": m.license,
            }
            for m in poi.media
        ],
        "origin": origin,
        "name_text": "\n".join(normalize(t) for t in poi.name.texts()),
        "search_text": search_text(texts),
        "search_tokens": index_tokens(texts),
    }


def poi_from(row: Row) -> Poi:
    anchor = row["anchor_m"]
    return Poi(
        scene_slug=row["scene_slug"],
        key=row["key"],
        category=PoiCategory(row["category"]),
        location=GeoPoint(row["lat_deg"], row["lon_deg"], row["height_m"]),
        name=required_text_in(row["name"]),
        description=text_in(row["description"]),
        anchor_m=(anchor[0], anchor[1], anchor[2]) if anchor is not None else None,
        tags=tuple(row["tags"]),
        opening_hours=_hours_in(row["opening_hours"]),
        opening_hours_note=text_in(row["opening_hours_note"]),
        accessibility=text_in(row["accessibility"]),
        access=frozenset(AccessFact(v) for v in row["access"] or ()),
        media=tuple(
            MediaRef(
                kind=MediaKind(m["kind"]),
                url=m["url"],
                caption=text_in(m["caption"]),
                attribution=m["attribution"],
                license=m["license"],
            )
            for m in row["media"]
        ),
    )


def camera_out(camera: CameraPose) -> dict[str, Any]:
    return {
        "position_m": list(camera.position_m),
        "heading_deg": camera.heading_deg,
        "pitch_deg": camera.pitch_deg,
        "roll_deg": camera.roll_deg,
        "fov_deg": camera.fov_deg,
    }


def stop_from(row: Row, poi_key: str) -> TourStop:
    cam = row["camera"]
    x, y, z = cam["position_m"]
    return TourStop(
        poi_key=poi_key,
        camera=CameraPose(
            (x, y, z), cam["heading_deg"], cam["pitch_deg"], cam["roll_deg"], cam["fov_deg"]
        ),
        narration=text_in(row["narration"]),
        dwell_min=row["dwell_min"],
        text_alternative=text_in(row["text_alternative"]),
        fallback_image_url=row["fallback_image_url"],
    )


def live_session_row(session: LiveSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "scene_slug": session.scene_slug,
        "key": session.key,
        "title": text_out(session.title),
        "description": text_out(session.description),
        "host": text_out(session.host),
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "capacity": session.capacity,
        "visibility": session.visibility.value,
        "status": session.status.value,
        "tour_key": session.tour_key,
    }


def live_session_from(row: Row) -> LiveSession:
    return LiveSession(
        scene_slug=row["scene_slug"],
        key=row["key"],
        title=required_text_in(row["title"]),
        description=text_in(row["description"]),
        host=text_in(row["host"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        capacity=row["capacity"],
        visibility=Visibility(row["visibility"]),
        status=LiveSessionStatus(row["status"]),
        tour_key=row["tour_key"],
    )
