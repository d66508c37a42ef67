"""Scenarios from scenarios.toml on SQLite and PostgreSQL: loaded as version 1, a changed
manifest makes a new version (old ones stay readable), removed ones are withdrawn, and a
scenario naming a missing layer stops the load with nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.asset_store import LocalAssetStore
from backend.scenes.loader import load_scenes
from backend.scenes.parse import ManifestErrors
from backend.store.sql_store import SqlStore
from tests.conftest import BUILD_CACHE
from tests.scenes.sample import write_scene

PLAN_LAYER = """
[[layers]]
key = "plan-park"
kind = "plan-overlay"
baseline = false
name = { ko = "공원 계획", en = "Park plan" }
source = { generator = "extruded-footprints", footprints = "sources/buildings.geojson" }
"""
SCENARIOS = """
[[scenario]]
key = "park-2030"
name = { ko = "공원 2030", en = "Park 2030" }
text_alternative = { en = "A park replaces the car park." }

[[scenario.figure]]
key = "green-space-ratio"
label = { en = "Green-space ratio" }
value = {green}
unit = "percent"

[[scenario.phase]]
key = "works"
name = {{ en = "Works" }}
starts_on = 2028-01-01
changes = [{{ add = "{layer}" }}]
"""


def scenario_folder(root: Path, green: float = 40, layer: str = "plan-park") -> Path:
    folder = write_scene(root / "scenes")
    with (folder / "scene.toml").open("a", encoding="utf-8") as scene:
        scene.write(PLAN_LAYER)
    write_scenarios(folder, green, layer)
    return folder


def write_scenarios(folder: Path, green: float, layer: str = "plan-park") -> None:
    text = SCENARIOS.replace("{green}", str(green)).replace("{{", "{").replace("}}", "}")
    (folder / "scenarios.toml").write_text(text.replace("{layer}", layer), encoding="utf-8")


async def test_scenarios_load_as_version_1_and_plan_layers_are_not_baseline(
    store: SqlStore, tmp_path: Path
):
    folder = scenario_folder(tmp_path)
    await load_scenes(store, LocalAssetStore(tmp_path / "assets"), [folder], BUILD_CACHE)
    offered = (await store.reads.scenarios_by_scene(["test-scene"]))["test-scene"]
    assert [(s.id, s.version) for s in offered] == [("test-scene:park-2030", 1)]
    scene = (await store.reads.scenes_by_slug(["test-scene"]))["test-scene"]
    assert [(layer.key, layer.baseline) for layer in scene.layers] == [
        ("terrain", True),
        ("buildings", True),
        ("plan-park", False),
    ]


async def test_a_changed_scenario_is_a_new_version_and_the_old_one_stays(
    store: SqlStore, tmp_path: Path
):
    folder = scenario_folder(tmp_path)
    assets = LocalAssetStore(tmp_path / "assets")
    await load_scenes(store, assets, [folder], BUILD_CACHE)
    await load_scenes(store, assets, [folder], BUILD_CACHE)  # unchanged: no new version
    write_scenarios(folder, green=45)
    await load_scenes(store, assets, [folder], BUILD_CACHE)

    versions = await store.reads.scenario_versions("test-scene", "park-2030")
    assert [(s.version, s.figures[0].value) for s in versions] == [(2, 45), (1, 40)]
    current = (await store.reads.scenarios_by_id(["test-scene:park-2030"]))["test-scene:park-2030"]
    assert current.version == 2


async def test_a_scenario_removed_from_the_manifest_is_withdrawn_but_still_readable(
    store: SqlStore, tmp_path: Path
):
    folder = scenario_folder(tmp_path)
    assets = LocalAssetStore(tmp_path / "assets")
    await load_scenes(store, assets, [folder], BUILD_CACHE)
    (folder / "scenarios.toml").unlink()
    await load_scenes(store, assets, [folder], BUILD_CACHE)

    assert (await store.reads.scenarios_by_scene(["test-scene"])).get("test-scene", []) == []
    assert "test-scene:park-2030" in await store.reads.scenarios_by_id(["test-scene:park-2030"])


async def test_a_scenario_naming_a_missing_layer_stops_the_load(store: SqlStore, tmp_path: Path):
    folder = scenario_folder(tmp_path, layer="harbour")
    with pytest.raises(ManifestErrors) as caught:
        await load_scenes(store, LocalAssetStore(tmp_path / "assets"), [folder], BUILD_CACHE)
    assert "layer 'harbour' does not exist in scene 'test-scene'" in caught.value.message
    assert "scenarios.toml" in caught.value.message
    assert await store.reads.regions() == []
