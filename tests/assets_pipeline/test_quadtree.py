"""Quadtree tilesets of large layers: nothing lost, borders locked, errors measured."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from assets_pipeline.decode import decode_glb
from assets_pipeline.mesh import Placement, SourceScene
from assets_pipeline.procedural.terrain import heightfield, terrain_mesh
from assets_pipeline.quadtree import QuadtreeOptions, build_quadtree
from assets_pipeline.tiles import ecef_to_geodetic
from tests.gltf_validator import problems, validate_glbs

ORIGIN = (34.8370, 127.8920, 5.0)  # Namhae


def walk(tile: dict[str, Any], depth: int = 0):
    yield tile, depth
    for child in tile.get("children", []):
        yield from walk(child, depth + 1)


@pytest.fixture(scope="module")
def terrain_tiles():
    mesh = terrain_mesh(heightfield(2000, 2000, 129, seed=9, relief_m=80))  # 32,768 triangles
    scene = SourceScene([mesh], [Placement(0, np.eye(4))])
    result = build_quadtree(scene, ORIGIN, QuadtreeOptions(max_leaf_triangles=3000))
    return mesh, result


def test_the_leaves_together_are_the_source_triangle_for_triangle(terrain_tiles):
    mesh, result = terrain_tiles

    leaves = [t for t, _ in walk(result.tileset["root"]) if "children" not in t]
    total = sum(decode_glb(result.files[t["content"]["uri"]]).triangle_count for t in leaves)

    assert total == mesh.triangle_count
    assert result.depth >= 2
    assert all(decode_glb(result.files[t["content"]["uri"]]).triangle_count <= 3000 for t in leaves)


def test_inner_tiles_are_simplified_and_their_errors_measured_and_non_increasing(terrain_tiles):
    _, result = terrain_tiles

    for tile, _ in walk(result.tileset["root"]):
        triangles = decode_glb(result.files[tile["content"]["uri"]]).triangle_count
        if "children" in tile:
            assert triangles <= 3000 * 1.2  # about one leaf's worth, whatever it covers
            assert tile["geometricError"] > 0  # measured against the source, never 0
            assert all(c["geometricError"] <= tile["geometricError"] for c in tile["children"])
        else:
            assert tile["geometricError"] == 0.0
        assert tile["refine"] == "REPLACE"


def test_every_box_holds_its_content_and_its_children(terrain_tiles):
    _, result = terrain_tiles

    for tile, _ in walk(result.tileset["root"]):
        box = np.array(tile["boundingVolume"]["box"])
        low, high = box[:3] - box[[3, 7, 11]], box[:3] + box[[3, 7, 11]]
        positions = decode_glb(result.files[tile["content"]["uri"]]).merged()[0]
        enu = np.stack([positions[:, 0], -positions[:, 2], positions[:, 1]], axis=1)
        assert (enu >= low - 1e-6).all()
        assert (enu <= high + 1e-6).all()
        for child in tile.get("children", []):
            c = np.array(child["boundingVolume"]["box"])
            assert (c[:3] - c[[3, 7, 11]] >= low - 1e-6).all()
            assert (c[:3] + c[[3, 7, 11]] <= high + 1e-6).all()


def test_the_root_is_placed_at_the_origin_and_every_tile_passes_the_validator(terrain_tiles):
    _, result = terrain_tiles

    transform = np.array(result.tileset["root"]["transform"]).reshape(4, 4).T
    placed = ecef_to_geodetic((transform @ np.array([0.0, 0.0, 0.0, 1.0]))[:3])
    glbs = {name.removesuffix(".glb"): data for name, data in result.files.items()}
    reports = validate_glbs(glbs)

    assert placed == pytest.approx(ORIGIN, abs=1e-6)
    assert result.tileset["asset"]["version"] == "1.1"
    assert all(r["issues"]["numErrors"] == 0 for r in reports.values()), [
        problems(r) for r in reports.values()
    ]


def test_the_batch_writes_a_quadtree_beside_the_chain_for_a_large_asset(tmp_path):
    import json

    from assets_pipeline.batch import run_batch
    from assets_pipeline.glb import write_glb

    source = tmp_path / "terrain.glb"
    source.write_bytes(write_glb([terrain_mesh(heightfield(1500, 1500, 97, seed=2, relief_m=50))]))
    out = tmp_path / "out"

    report = run_batch([source], out, jobs=1, origin=ORIGIN, tile_triangles=4000)

    assert not report.failed, report.failed
    [asset] = json.loads((out / "manifest.json").read_text())["assets"]
    quadtree = asset["quadtree"]
    tileset = json.loads((out / quadtree["tileset"]).read_text())
    uris = [t["content"]["uri"] for t, _ in walk(tileset["root"])]
    assert len(uris) == quadtree["tiles"] > 1
    assert all((out / uri).is_file() and (out / f"{uri}.br").is_file() for uri in uris)
    assert (out / asset["tileset"]).is_file()  # the whole-asset chain is there too
