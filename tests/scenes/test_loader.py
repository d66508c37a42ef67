"""`twinland scenes load`: all or nothing, errors naming file/field/reason, idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.asset_store import LocalAssetStore
from backend.domain.errors import Conflict
from backend.domain.live_session import LiveSessionStatus
from backend.domain.poi_query import PageRequest, PoiFilter
from backend.scenes.loader import load_scenes
from backend.scenes.parse import ManifestErrors
from backend.services import catalog
from backend.services.live_sessions import change_live_session_status
from backend.store.sql_store import SqlStore
from tests import factories as f
from tests.conftest import BUILD_CACHE, REPO
from tests.scenes.sample import replace_in, write_scene


async def scene_keys(store: SqlStore, slug: str) -> set[str]:
    page = await store.reads.search_pois(PoiFilter(scene_slug=slug), PageRequest(first=100))
    return {hit.poi.key for hit in page.hits}


async def nothing_stored(store: SqlStore) -> bool:
    return await store.reads.regions() == []


async def test_a_valid_scene_loads_with_its_pois_tour_session_and_assets(
    store: SqlStore, tmp_path: Path
):
    folder = write_scene(tmp_path / "scenes")
    assets = LocalAssetStore(tmp_path / "assets")

    report = await load_scenes(store, assets, [folder], BUILD_CACHE)

    assert report.scenes == ["test-scene"]
    assert (report.pois, report.tours, report.live_sessions_created) == (2, 1, 1)
    scene = (await store.reads.scenes_by_slug(["test-scene"]))["test-scene"]
    terrain, buildings = scene.layers
    assert {a.tier.value for a in terrain.assets} == {"desktop", "mobile", "vr"}
    for asset in (*terrain.assets, *buildings.assets):
        assert assets.path_for(f"{asset.sha256}.glb").read_bytes()[:4] == b"glTF"
    assert await scene_keys(store, "test-scene") == {"temple", "beach"}
    poi = (await store.reads.pois_by_id(["test-scene:temple"]))["test-scene:temple"]
    assert poi.anchor_m is not None  # computed from the scene frame when absent


@pytest.mark.parametrize(
    ("file", "old", "new", "field", "reason"),
    [
        ("pois.toml", "lat = 35.2010", "lat = 95.0", "poi[0].lat", "[-90, 90]"),
        ("pois.toml", 'category = "beach"', 'category = "casino"', "poi[1].category", "casino"),
        ("pois.toml", 'tags = ["Temple"]', 'tagz = ["Temple"]', "poi.0.tagz", "Extra inputs"),
        ("tours.toml", 'poi = "beach"', 'poi = "harbour"', "tour[0]", "harbour"),
        ("live-sessions.toml", "capacity = 100", "capacity = 0", "live_session[0].capacity", "1.."),
        ("live-sessions.toml", "+09:00\nends_at", "\nends_at", "live_session", "offset"),
        ("scene.toml", 'slug = "test-scene"', 'slug = "other"', "slug", "folder name"),
        ("scene.toml", "relief_m = 50.0", "relief_m = -5.0", "layers.0.source", "greater than"),
        (
            "scene.toml",
            '"sources/buildings.geojson"',
            '"../../../etc/passwd"',
            "layers.buildings.source",
            "outside the scene folder",
        ),
        (
            "sources/buildings.geojson",
            '"height_m": 30.0',
            '"height_m": -3',
            "features[1].properties.height_m",
            "(0, 1000]",
        ),
    ],
)
async def test_a_broken_manifest_names_file_field_and_reason_and_stores_nothing(
    store: SqlStore, tmp_path: Path, file: str, old: str, new: str, field: str, reason: str
):
    folder = write_scene(tmp_path / "scenes")
    replace_in(folder / file, old, new)

    with pytest.raises(ManifestErrors) as raised:
        await load_scenes(store, LocalAssetStore(tmp_path / "assets"), [folder], BUILD_CACHE)

    [error] = [e for e in raised.value.errors if e.file.name == Path(file).name]
    assert field in error.field, error.message
    assert reason in error.reason, error.message
    assert await nothing_stored(store)


async def test_one_broken_scene_among_several_loads_none_of_them(store: SqlStore, tmp_path: Path):
    root = tmp_path / "scenes"
    write_scene(root, "good-scene")
    broken = write_scene(root, "bad-scene")
    replace_in(broken / "pois.toml", "lon = 129.2050", "lon = 200.0")

    with pytest.raises(ManifestErrors) as raised:
        await load_scenes(store, LocalAssetStore(tmp_path / "assets"), [root], BUILD_CACHE)

    assert {e.file.parent.name for e in raised.value.errors} == {"bad-scene"}
    assert await nothing_stored(store)


async def test_a_manifest_never_overwrites_an_api_poi_and_a_failed_load_rolls_back(
    store: SqlStore, tmp_path: Path
):
    root = tmp_path / "scenes"
    first = write_scene(root, "first-scene")
    assets = LocalAssetStore(tmp_path / "assets")
    pois = (first / "pois.toml").read_text(encoding="utf-8")
    (first / "pois.toml").write_text(pois.replace('key = "beach"', 'key = "shore"'), "utf-8")
    replace_in(first / "tours.toml", 'poi = "beach"', 'poi = "shore"')
    await load_scenes(store, assets, [first], BUILD_CACHE)
    # an organiser creates "beach" through the API; the manifest then claims the same key
    await catalog.create_poi(store, f.poi("beach", 35.2, 129.2, scene_slug="first-scene"))
    (first / "pois.toml").write_text(pois, encoding="utf-8")
    replace_in(first / "tours.toml", 'poi = "shore"', 'poi = "beach"')
    write_scene(root, "second-scene")

    with pytest.raises(Conflict, match="managed by the API"):
        await load_scenes(store, assets, [root], BUILD_CACHE)

    assert await store.reads.scenes_by_slug(["second-scene"]) == {}  # rolled back
    assert await scene_keys(store, "first-scene") == {"temple", "shore", "beach"}
    api_poi = (await store.reads.pois_by_id(["first-scene:beach"]))["first-scene:beach"]
    assert api_poi.name == f.poi("beach", 35.2, 129.2).name


async def test_reloading_is_idempotent_and_removes_what_the_manifest_dropped(
    store: SqlStore, tmp_path: Path
):
    folder = write_scene(tmp_path / "scenes")
    assets = LocalAssetStore(tmp_path / "assets")
    await load_scenes(store, assets, [folder], BUILD_CACHE)
    await catalog.create_poi(store, f.poi("kiosk", 35.2, 129.2, scene_slug="test-scene"))
    await change_live_session_status(store, "test-scene:briefing", LiveSessionStatus.CANCELLED)
    pois = (folder / "pois.toml").read_text(encoding="utf-8")
    (folder / "pois.toml").write_text(pois[: pois.index("[[poi]]", 10)], encoding="utf-8")
    replace_in(folder / "tours.toml", 'poi = "beach"', 'poi = "temple"')

    report = await load_scenes(store, assets, [folder], BUILD_CACHE)

    assert (report.pois_removed, report.live_sessions_created) == (1, 0)
    assert await scene_keys(store, "test-scene") == {"temple", "kiosk"}  # API POI untouched
    session = (await store.reads.live_sessions_by_id(["test-scene:briefing"]))[
        "test-scene:briefing"
    ]
    assert session.status is LiveSessionStatus.CANCELLED  # its lifecycle is the organisers'


def test_the_cli_prints_every_problem_and_exits_non_zero(tmp_path: Path):
    folder = write_scene(tmp_path / "scenes")
    replace_in(folder / "pois.toml", "lat = 35.2010", "lat = -91.5")
    replace_in(folder / "tours.toml", 'poi = "temple"', 'poi = "nowhere"')
    env = {**os.environ, "TWINLAND_DATA_DIR": str(tmp_path / "var")}

    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", "scenes", "load", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )

    assert done.returncode == 1
    assert "nothing loaded" in done.stderr
    assert f"{folder / 'pois.toml'}: poi[0].lat:" in done.stderr
    assert "nowhere" in done.stderr
