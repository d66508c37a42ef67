"""The demo content is real: three pilot regions, ≥15 POIs each, renderable GLB layers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assets_pipeline.tiles import ecef_to_geodetic
from backend.asset_store import LocalAssetStore
from backend.domain.i18n import Locale
from backend.scenes.layer_build import TILE_TRIANGLES, LayerBuilder
from backend.scenes.layers import build_layers
from backend.scenes.loader import read_packages
from backend.scenes.parse import ScenePackage
from tests.conftest import BUILD_CACHE, DEMO_SCENES
from tests.gltf_validator import problems, validate_glbs


@pytest.fixture(scope="module")
def packages() -> dict[str, ScenePackage]:
    return {p.scene.slug: p for p in read_packages([DEMO_SCENES])}


def test_the_pilot_scenes_are_there(packages: dict[str, ScenePackage]):
    assert set(packages) == {
        "gijang-osiria",
        "namhae-coast",
        "gokseong",
        "jeju-seongsan",
        "wanju-innovation-city",
    }


@pytest.mark.parametrize(
    ("slug", "scenarios"),
    [
        ("gokseong", 2),
        ("wanju-innovation-city", 1),
        ("jeju-seongsan", 1),
    ],
)
def test_the_development_scenes_have_scenarios_with_text_alternatives(
    packages: dict[str, ScenePackage], slug: str, scenarios: int
):
    package = packages[slug]
    assert len(package.scenarios) >= scenarios
    for scenario in package.scenarios:
        assert {Locale.KO, Locale.EN} <= {loc for loc, _ in scenario.text_alternative.entries}
        assert scenario.phases
        assert scenario.figures


def test_jeju_is_open_for_comments_under_pre_moderation(packages: dict[str, ScenePackage]):
    assert packages["jeju-seongsan"].scene.moderation == "pre"
    assert packages["jeju-seongsan"].polls


def test_namhae_has_a_treasure_hunt_of_at_least_eight_real_places(
    packages: dict[str, ScenePackage],
):
    namhae = packages["namhae-coast"]
    [hunt] = namhae.stamp_tours
    assert len(hunt.stops) >= 8
    pois = {poi.key for poi in namhae.pois}
    assert all(stop.poi_key in pois for stop in hunt.stops)


@pytest.mark.parametrize("slug", ["gijang-osiria", "namhae-coast", "gokseong"])
def test_each_scene_has_real_pois_a_tour_and_a_scheduled_session(
    packages: dict[str, ScenePackage], slug: str
):
    package = packages[slug]
    assert len(package.pois) >= 15
    for poi in package.pois:
        assert {Locale.KO, Locale.EN} <= {locale for locale, _ in poi.name.entries}, poi.id
        assert package.region.bounds.contains(poi.location.lat_deg, poi.location.lon_deg), poi.id
    assert len(package.tours) >= 1
    assert len(package.live_sessions) >= 1
    assert all(s.status.value == "scheduled" for s in package.live_sessions)


def test_every_demo_layer_asset_passes_the_khronos_validator(
    packages: dict[str, ScenePackage], tmp_path: Path
):
    store = LocalAssetStore(tmp_path)
    glbs = {}
    for package in packages.values():
        scene = build_layers(package, store, LayerBuilder(store, BUILD_CACHE))
        for layer in scene.layers:
            assert layer.assets, f"{scene.slug}/{layer.key} has no assets"
            for asset in layer.assets:
                assert asset.tileset_sha256 is not None
                tileset = json.loads(store.path_for(f"{asset.tileset_sha256}.json").read_text())
                for tile in _tiles(tileset["root"]):  # every level of the chain
                    uri = tile["content"]["uri"]
                    glbs[f"{scene.slug}-{layer.key}-{asset.tier.value}-{uri[:8]}"] = (
                        store.path_for(uri).read_bytes()
                    )

    reports = validate_glbs(glbs)

    assert set(reports) == set(glbs)
    for name, report in reports.items():
        assert report["issues"]["numErrors"] == 0, (name, problems(report))
        assert problems(report) == [], name
        assert report["info"]["totalTriangleCount"] > 0, name


def _tiles(tile: dict[str, Any]) -> list[dict[str, Any]]:
    return [tile, *(t for child in tile.get("children", []) for t in _tiles(child))]


def test_every_demo_tileset_is_placed_at_its_scene_origin_with_measured_errors(
    packages: dict[str, ScenePackage], tmp_path: Path
):
    store = LocalAssetStore(tmp_path)
    for package in packages.values():
        scene = build_layers(package, store, LayerBuilder(store, BUILD_CACHE))
        origin = scene.georeference.origin
        for layer in scene.layers:
            for asset in layer.assets:
                tileset = json.loads(store.path_for(f"{asset.tileset_sha256}.json").read_text())
                transform = np.array(tileset["root"]["transform"]).reshape(4, 4).T
                lat, lon, height = ecef_to_geodetic((transform @ [0.0, 0.0, 0.0, 1.0])[:3])
                tiles = _tiles(tileset["root"])
                errors = [t["geometricError"] for t in tiles]

                where = f"{scene.slug}/{layer.key}/{asset.tier.value}"
                north_m = (lat - origin.lat_deg) * 111_320
                east_m = (lon - origin.lon_deg) * 111_320 * np.cos(np.radians(origin.lat_deg))
                assert np.hypot(north_m, east_m) < 10, where  # the issue asks within 10 m
                assert abs(height - origin.height_m) < 10, where
                for tile in tiles:  # a chain or a quadtree: every parent at least its children
                    for child in tile.get("children", []):
                        assert child["geometricError"] <= tile["geometricError"], where
                    if "children" not in tile:
                        assert tile["geometricError"] == 0.0, where
                assert len(tiles) == 1 or errors[0] > 0, where  # measured, not invented
                assert store.path_for(f"{asset.sha256}.glb") is not None, where  # the fallback
                if asset.triangle_count > TILE_TRIANGLES:  # large layers are split on the ground
                    assert len(tileset["root"]["children"]) > 1, where
