"""Small builders for domain objects in tests (valid by default, overridable)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.domain.geo import BoundingBox, GeoPoint
from backend.domain.i18n import Locale, LocalizedText
from backend.domain.live_session import LiveSession
from backend.domain.poi import Poi, PoiCategory
from backend.domain.region import Region
from backend.domain.scene import Georeference, Scene
from backend.domain.tour import CameraPose, Tour, TourStop


def text(**values: str) -> LocalizedText:
    return LocalizedText.of("text", values or {"ko": "이름", "en": "Name"})


def region(slug: str = "gijang", **overrides: Any) -> Region:
    values: dict[str, Any] = {
        "slug": slug,
        "name": text(ko="기장군", en="Gijang County"),
        "province": None,
        "bounds": BoundingBox(35.17, 129.11, 35.39, 129.31),
        "default_locales": (Locale.KO, Locale.EN),
    }
    return Region(**(values | overrides))


def scene(slug: str = "osiria", region_slug: str = "gijang", **overrides: Any) -> Scene:
    values: dict[str, Any] = {
        "slug": slug,
        "region_slug": region_slug,
        "name": text(ko="오시리아", en="Osiria"),
        "description": None,
        "georeference": Georeference(GeoPoint(35.19, 129.215, 0.0), 3000.0, 3000.0),
    }
    return Scene(**(values | overrides))


def poi(key: str, lat: float, lon: float, scene_slug: str = "osiria", **overrides: Any) -> Poi:
    values: dict[str, Any] = {
        "scene_slug": scene_slug,
        "key": key,
        "category": PoiCategory.ATTRACTION,
        "location": GeoPoint(lat, lon, 0.0),
        "name": text(ko=f"장소 {key}", en=f"Place {key}"),
    }
    return Poi(**(values | overrides))


def camera() -> CameraPose:
    return CameraPose((0.0, 0.0, 50.0), heading_deg=90.0, pitch_deg=-20.0)


def tour(key: str, poi_keys: list[str], scene_slug: str = "osiria", **overrides: Any) -> Tour:
    values: dict[str, Any] = {
        "scene_slug": scene_slug,
        "key": key,
        "name": text(ko="해안 산책", en="Coast walk"),
        "stops": tuple(TourStop(poi_key=k, camera=camera()) for k in poi_keys),
    }
    return Tour(**(values | overrides))


def live_session(key: str = "sunset", scene_slug: str = "osiria", **overrides: Any) -> LiveSession:
    starts = datetime(2030, 5, 2, 9, 30, tzinfo=UTC)
    values: dict[str, Any] = {
        "scene_slug": scene_slug,
        "key": key,
        "title": text(ko="노을 투어", en="Sunset tour"),
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=1),
        "capacity": 300,
    }
    return LiveSession(**(values | overrides))
