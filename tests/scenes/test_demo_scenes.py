"""The demo content is real: three pilot regions, ≥15 POIs each, renderable GLB layers."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.asset_store import LocalAssetStore
from backend.domain.i18n import Locale
from backend.scenes.layers import build_layers
from backend.scenes.loader import read_packages
from backend.scenes.parse import ScenePackage
from tests.conftest import DEMO_SCENES
from tests.gltf_validator import problems, validate_glbs


@pytest.fixture(scope="module")
def packages() -> dict[str, ScenePackage]:
    return {p.scene.slug: p for p in read_packages([DEMO_SCENES])}


def test_the_three_pilot_scenes_are_there(packages: dict[str, ScenePackage]):
    assert set(packages) == {"gijang-osiria", "namhae-coast", "gokseong"}


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
        scene = build_layers(package, store)
        for layer in scene.layers:
            assert layer.assets, f"{scene.slug}/{layer.key} has no assets"
            for asset in layer.assets:
                name = f"{scene.slug}-{layer.key}-{asset.tier.value}"
                path = store.path_for(f"{asset.sha256}.glb")
                assert path is not None
                glbs[name] = path.read_bytes()

    reports = validate_glbs(glbs)

    assert set(reports) == set(glbs)
    for name, report in reports.items():
        assert report["issues"]["numErrors"] == 0, (name, problems(report))
        assert problems(report) == [], name
        assert report["info"]["totalTriangleCount"] > 0, name
