"""A small, valid scene folder written into a temporary directory, to break on purpose."""

from __future__ import annotations

import json
from pathlib import Path

SCENE_TOML = """\
schema_version = 1
slug = "{slug}"

[region]
slug = "testgun"
name = {{ ko = "시험군", en = "Test County" }}
bounds = {{ south = 35.10, west = 129.10, north = 35.30, east = 129.30 }}
default_locales = ["ko", "en"]
timezone = "Asia/Seoul"

[scene]
name = {{ ko = "시험 장면", en = "Test scene" }}
origin = {{ lat = 35.20, lon = 129.20, height_m = 0.0 }}
extent_m = {{ east = 2000.0, north = 2000.0 }}

[[layers]]
key = "terrain"
kind = "terrain"
name = {{ ko = "지형", en = "Terrain" }}
source = {{ generator = "heightfield", seed = 3, relief_m = 50.0, coast = "east" }}

[[layers]]
key = "buildings"
kind = "buildings"
name = {{ ko = "건물", en = "Buildings" }}
source = {{ generator = "extruded-footprints", footprints = "sources/buildings.geojson" }}
"""

POIS_TOML = """\
[[poi]]
key = "temple"
category = "religious-site"
lat = 35.2010
lon = 129.2020
name = { ko = "시험사", en = "Test Temple" }
tags = ["Temple"]
opening_hours = [ { days = "mo-su", opens = "05:00", closes = "19:00" } ]

[[poi]]
key = "beach"
category = "beach"
lat = 35.1990
lon = 129.2050
name = { ko = "시험해변", en = "Test Beach" }
opening_hours = "24/7"
"""

TOURS_TOML = """\
[[tour]]
key = "walk"
name = { ko = "산책", en = "Walk" }

[[tour.stops]]
poi = "temple"
narration = { ko = "절", en = "The temple" }
camera = { lat = 35.2000, lon = 129.2010, height_m = 40.0, heading_deg = 45.0, pitch_deg = -20.0 }

[[tour.stops]]
poi = "beach"
camera = { position_m = [400.0, -100.0, 30.0], heading_deg = 90.0, pitch_deg = -10.0 }
"""

SESSIONS_TOML = """\
[[live_session]]
key = "briefing"
title = { ko = "설명회", en = "Briefing" }
starts_at = 2030-05-02T18:30:00+09:00
ends_at = 2030-05-02T19:30:00+09:00
capacity = 100
tour = "walk"
"""


def footprint(lon: float, lat: float, height_m: float) -> dict[str, object]:
    d = 0.0002
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"height_m": height_m, "color": "#aabbcc"},
    }


def write_scene(root: Path, slug: str = "test-scene") -> Path:
    folder = root / slug
    (folder / "sources").mkdir(parents=True)
    (folder / "scene.toml").write_text(SCENE_TOML.format(slug=slug), encoding="utf-8")
    (folder / "pois.toml").write_text(POIS_TOML, encoding="utf-8")
    (folder / "tours.toml").write_text(TOURS_TOML, encoding="utf-8")
    (folder / "live-sessions.toml").write_text(SESSIONS_TOML, encoding="utf-8")
    buildings = {
        "type": "FeatureCollection",
        "features": [footprint(129.199, 35.199, 12.0), footprint(129.201, 35.2, 30.0)],
    }
    (folder / "sources" / "buildings.geojson").write_text(json.dumps(buildings), encoding="utf-8")
    return folder


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
