"""3D Tiles tilesets: geodesy checked against known values, chains from real batch output."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from assets_pipeline.batch import run_batch
from assets_pipeline.glb import write_glb
from assets_pipeline.procedural.terrain import heightfield, terrain_mesh
from assets_pipeline.tiles import (
    FLATTENING,
    SEMI_MAJOR_AXIS_M,
    TileLevel,
    chain_tileset,
    ecef_to_geodetic,
    enu_to_ecef,
    geodetic_to_ecef,
)

GIJANG = (35.1880, 129.2230, 20.0)  # Osiria, the demo scene's origin


def test_ecef_of_known_points_on_the_ellipsoid():
    assert geodetic_to_ecef(0, 0, 0) == pytest.approx([SEMI_MAJOR_AXIS_M, 0, 0], abs=1e-6)
    polar = SEMI_MAJOR_AXIS_M * (1 - FLATTENING)
    assert geodetic_to_ecef(90, 0, 0) == pytest.approx([0, 0, polar], abs=1e-6)
    assert geodetic_to_ecef(0, 90, 100) == pytest.approx([0, SEMI_MAJOR_AXIS_M + 100, 0], abs=1e-6)


def test_geodetic_round_trips_to_a_millimetre():
    lat, lon, height = ecef_to_geodetic(geodetic_to_ecef(*GIJANG))

    assert (lat, lon) == pytest.approx(GIJANG[:2], abs=1e-8)  # ~1 mm
    assert height == pytest.approx(GIJANG[2], abs=1e-3)


def test_the_enu_frame_is_east_north_up_at_the_origin():
    matrix = enu_to_ecef(*GIJANG)

    def place(e: float, n: float, u: float) -> tuple[float, float, float]:
        return ecef_to_geodetic((matrix @ np.array([e, n, u, 1.0]))[:3])

    origin = place(0, 0, 0)
    up = place(0, 0, 100)
    east = place(1000, 0, 0)
    north = place(0, 1000, 0)
    assert origin == pytest.approx(GIJANG, abs=1e-6)
    assert up[:2] == pytest.approx(GIJANG[:2], abs=1e-9)
    assert up[2] == pytest.approx(GIJANG[2] + 100, abs=1e-3)
    assert east[1] > GIJANG[1]
    assert east[0] == pytest.approx(GIJANG[0], abs=1e-4)
    assert north[0] > GIJANG[0]
    assert north[1] == pytest.approx(GIJANG[1], abs=1e-9)
    assert np.allclose(matrix[:3, :3].T @ matrix[:3, :3], np.eye(3))  # a pure rotation


def test_a_chain_becomes_nested_replace_tiles_with_non_increasing_errors():
    levels = [
        TileLevel("fine.glb", (-10, -10, 0), (10, 10, 5), 0.0),
        TileLevel("mid.glb", (-10, -10, 0), (10, 10, 4), 0.5),
        TileLevel("coarse.glb", (-11, -10, 0), (10, 10, 4), 0.3),  # measured lower: forced up
    ]

    tileset = chain_tileset(levels, GIJANG)

    root = tileset["root"]
    chain = [root, root["children"][0], root["children"][0]["children"][0]]
    assert [t["content"]["uri"] for t in chain] == ["coarse.glb", "mid.glb", "fine.glb"]
    assert [t["geometricError"] for t in chain] == [0.5, 0.5, 0.0]
    assert all(t["refine"] == "REPLACE" for t in chain)
    assert tileset["asset"]["version"] == "1.1"
    assert tileset["geometricError"] >= root["geometricError"]
    for parent, child in itertools.pairwise(chain):
        p, c = parent["boundingVolume"]["box"], child["boundingVolume"]["box"]
        for axis, half in ((0, 3), (1, 7), (2, 11)):
            assert p[axis] - p[half] <= c[axis] - c[half] + 1e-9
            assert p[axis] + p[half] >= c[axis] + c[half] - 1e-9


def test_a_built_terrain_gets_a_tileset_placed_at_its_origin(tmp_path: Path):
    source = tmp_path / "terrain.glb"
    source.write_bytes(write_glb([terrain_mesh(heightfield(1200, 900, 97, seed=3, relief_m=60))]))
    out = tmp_path / "out"

    report = run_batch([source], out, jobs=1, origin=GIJANG)

    assert not report.failed
    manifest = json.loads((out / "manifest.json").read_text())
    [asset] = manifest["assets"]
    tileset = json.loads((out / asset["tileset"]).read_text())
    transform = np.array(tileset["root"]["transform"]).reshape(4, 4).T  # column-major
    placed = ecef_to_geodetic((transform @ np.array([0, 0, 0, 1.0]))[:3])
    assert placed == pytest.approx(GIJANG, abs=1e-6)  # within millimetres, not 10 m
    tile, uris, errors = tileset["root"], [], []
    while True:
        uris.append(tile["content"]["uri"])
        errors.append(tile["geometricError"])
        box = tile["boundingVolume"]["box"]
        assert box[3] == pytest.approx(600, rel=0.01)  # half of the 1,200 m width
        if "children" not in tile:
            break
        [tile] = tile["children"]
    assert uris == [lod["file"] for lod in reversed(asset["lods"])]
    assert all((out / uri).is_file() for uri in uris)
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] == 0.0
    assert len(uris) >= 3  # a real chain, not one level
    assert errors[0] == max(lod["error_p99_m"] for lod in asset["lods"])  # measured, not invented
