"""The whole pipeline on a small corpus: chains, validity, errors, batches and the CLI."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import brotli
import numpy as np
import pytest
import trimesh
from PIL import Image
from threadpoolctl import threadpool_info

from assets_pipeline import build as build_module
from assets_pipeline.batch import run_batch
from assets_pipeline.build import BuiltAsset, build_asset
from assets_pipeline.decode import decode_glb
from assets_pipeline.glb import read_glb, write_glb
from assets_pipeline.gltf_out import EncodeOptions, OutputMesh, PendingGlb
from assets_pipeline.mesh import MeshError
from assets_pipeline.procedural.terrain import heightfield, terrain_mesh
from tests.conftest import REPO
from tests.gltf_validator import problems, validate_glbs


def glb_of(mesh: trimesh.Trimesh | trimesh.Scene) -> bytes:
    return bytes(trimesh.exchange.gltf.export_glb(mesh))


def textured_sphere() -> bytes:
    sphere = trimesh.creation.uv_sphere(radius=20.0, count=[48, 48])
    rng = np.random.default_rng(2)
    base = np.linspace(0, 255, 256)
    pixels = np.stack(
        [
            np.add.outer(base, base) / 2,
            np.add.outer(base, 255 - base) / 2,
            rng.random((256, 256)) * 40,
        ],
        axis=-1,
    ).astype(np.uint8)
    image = Image.fromarray(pixels)
    uv = np.asarray(sphere.vertices)[:, :2] / 40.0 + 0.5
    sphere.visual = trimesh.visual.TextureVisuals(uv=uv, image=image)
    return glb_of(sphere)


def city() -> bytes:
    scene = trimesh.Scene()
    rng = np.random.default_rng(7)
    for i in range(30):
        box = trimesh.creation.box((rng.uniform(8, 30), rng.uniform(8, 30), rng.uniform(6, 60)))
        box.apply_translation([rng.uniform(-300, 300), 0, rng.uniform(-300, 300)])
        scene.add_geometry(box, node_name=f"b{i}")
    tree = trimesh.creation.cone(2.0, 7.0, sections=10)
    for i in range(25):
        matrix = trimesh.transformations.rotation_matrix(rng.uniform(0, 6.28), [0, 1, 0])
        matrix[:3, 3] = [rng.uniform(-300, 300), 0, rng.uniform(-300, 300)]
        scene.add_geometry(tree, geom_name="tree", node_name=f"t{i}", transform=matrix)
    return glb_of(scene)


CORPUS = {
    "terrain.glb": lambda: write_glb(
        [terrain_mesh(heightfield(2000, 2000, 129, seed=4, relief_m=90))]
    ),
    "sphere.glb": textured_sphere,
    "city.glb": city,
    "bunny.stl": lambda: trimesh.exchange.stl.export_stl(trimesh.creation.icosphere(4)),
}


@pytest.fixture(scope="module")
def built() -> dict[str, BuiltAsset]:
    return {name: build_asset(name, make()) for name, make in CORPUS.items()}


def test_every_level_of_every_asset_passes_the_khronos_validator(built: dict[str, BuiltAsset]):
    glbs = {f"{n}-lod{lod.level}": lod.glb for n, b in built.items() for lod in b.lods}

    reports = validate_glbs(glbs)

    for name, report in reports.items():
        assert report["issues"]["numErrors"] == 0, (name, problems(report))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_lod_chains_lose_triangles_and_never_gain_accuracy(built: dict[str, BuiltAsset], name: str):
    lods = built[name].lods

    assert len(lods) >= 2, [lod.triangle_count for lod in lods]
    for finer, coarser in itertools.pairwise(lods):
        assert coarser.triangle_count < finer.triangle_count
        assert coarser.error_mean_m >= finer.error_mean_m
        assert coarser.error_p99_m >= finer.error_p99_m
        assert len(coarser.glb) < len(finer.glb)
        assert coarser.bytes_brotli < finer.bytes_brotli  # what travels shrinks too


def test_full_detail_error_is_only_quantization(built: dict[str, BuiltAsset]):
    for asset in built.values():
        lod0 = asset.lods[0]
        # 14-bit positions: half a step is 1/32766 of the largest extent
        assert lod0.error_p99_rel < 1 / 16383, asset.name


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_auto_keeps_the_codec_whose_level_is_smallest_after_brotli(name: str):
    data = CORPUS[name]()
    each = {
        codec: build_asset(name, data, codec=codec, max_levels=1, measure=False).lods[0]
        for codec in ("meshopt", "draco", "none")
    }

    auto = build_asset(name, data, codec="auto", max_levels=1, measure=False).lods[0]

    smallest = min(lod.bytes_brotli for lod in each.values())
    assert auto.bytes_brotli == smallest, {c: lod.bytes_brotli for c, lod in each.items()}
    # ranked without its images, written with them: the same bytes as asking for that codec
    assert auto.glb == each[auto.codec].glb


@pytest.mark.parametrize(
    ("limit", "expected"), [(10**9, {"meshopt", "draco", "none"}), (0, {"meshopt", "draco"})]
)
def test_auto_tries_the_uncompressed_candidate_only_on_small_levels(
    monkeypatch: pytest.MonkeyPatch, limit: int, expected: set[str]
):
    asked: list[str] = []
    start = build_module.start_compressed_glb

    def spy(meshes: list[OutputMesh], options: EncodeOptions, **kwargs: Any) -> PendingGlb:
        asked.append(options.codec)
        return start(meshes, options, **kwargs)

    monkeypatch.setattr(build_module, "start_compressed_glb", spy)
    monkeypatch.setattr(build_module, "AUTO_UNCOMPRESSED_MAX_VERTICES", limit)

    build_asset("bunny.stl", CORPUS["bunny.stl"](), codec="auto", max_levels=1, measure=False)

    assert set(asked) == expected


def test_a_build_runs_with_one_blas_thread_and_restores_the_count_after(
    monkeypatch: pytest.MonkeyPatch,
):
    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    seen: list[int] = []
    group_scene = build_module.group_scene

    def spy(scene: Any) -> Any:
        seen.extend(blas_threads())
        return group_scene(scene)

    monkeypatch.setattr(build_module, "group_scene", spy)
    before = blas_threads()

    build_asset("bunny.stl", CORPUS["bunny.stl"](), max_levels=1, measure=False)

    assert before, "numpy's BLAS is not visible to threadpoolctl"
    assert seen
    assert set(seen) == {1}
    assert blas_threads() == before


def test_a_city_keeps_its_trees_instanced(built: dict[str, BuiltAsset]):
    assert built["city.glb"].instanced_meshes == 1
    assert built["city.glb"].lods[0].triangle_count == built["city.glb"].source_triangles


def test_the_texture_becomes_webp_within_its_quality_bar(built: dict[str, BuiltAsset]):
    [texture] = built["sphere.glb"].textures
    assert texture.webp_bytes < texture.source_bytes
    assert texture.psnr_db >= 30


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("broken.glb", b"glTF\x02\x00\x00\x00" + b"\xff" * 40, None),
        ("nan.stl", None, None),
        ("model.fbx", b"Kaydara FBX Binary", "unsupported_format"),
    ],
)
def test_bad_inputs_fail_with_a_clear_error(name: str, data: bytes | None, code: str | None):
    if data is None:  # an STL whose every vertex is NaN
        mesh = trimesh.creation.box()
        mesh.vertices[:] = np.nan
        data = trimesh.exchange.stl.export_stl(mesh)

    with pytest.raises(MeshError) as error:
        build_asset(name, data)

    assert error.value.message
    if code is not None:
        assert error.value.code == code


def test_a_batch_builds_the_good_assets_reports_the_bad_one_and_caches(tmp_path: Path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "terrain.glb").write_bytes(CORPUS["terrain.glb"]())
    (inputs / "ball.stl").write_bytes(CORPUS["bunny.stl"]())
    (inputs / "evil.gltf").write_text(
        json.dumps(
            {"asset": {"version": "2.0"}, "buffers": [{"uri": "../secret.bin", "byteLength": 4}]}
        )
    )
    out = tmp_path / "out"
    paths = sorted(inputs.iterdir())

    first = run_batch(paths, out, jobs=2)
    second = run_batch(paths, out, jobs=2)

    status = {o.name: o.status for o in first.outcomes}
    assert status == {"terrain.glb": "built", "ball.stl": "built", "evil.gltf": "failed"}
    [failed] = first.failed
    assert failed.error_code == "external_uri"
    assert "../secret.bin" in (failed.error or "")
    assert {o.name: o.status for o in second.outcomes}["terrain.glb"] == "cached"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["name"] for a in manifest["assets"]} == {"terrain.glb", "ball.stl", "evil.gltf"}
    terrain = next(a for a in manifest["assets"] if a["name"] == "terrain.glb")
    assert (out / terrain["lods"][0]["file"]).is_file()
    assert not list(out.glob(".*-*"))  # no temporary folders left behind
    assert not (out / ".records" / "evil.json").exists()  # a failed asset records nothing
    listed = {f for a in manifest["assets"] for f in a.get("files", [])}
    stored = {p.name for p in out.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert stored - {"manifest.json"} == listed  # nothing unlisted, e.g. from the failure


def test_the_store_is_content_addressed_with_precompressed_siblings_and_shared_textures(
    tmp_path: Path,
):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "sphere.glb").write_bytes(textured_sphere())
    (inputs / "again.glb").write_bytes(textured_sphere())  # same texture in a second asset
    out = tmp_path / "out"

    report = run_batch(sorted(inputs.iterdir()), out, jobs=2)

    assert not report.failed, report.failed
    manifest = json.loads((out / "manifest.json").read_text())
    sphere = next(a for a in manifest["assets"] if a["name"] == "sphere.glb")
    [texture] = sphere["textures"]
    for lod in sphere["lods"]:
        glb = (out / lod["file"]).read_bytes()
        assert lod["file"] == f"{hashlib.sha256(glb).hexdigest()}.glb"
        assert gzip.decompress((out / f"{lod['file']}.gz").read_bytes()) == glb
        assert brotli.decompress((out / f"{lod['file']}.br").read_bytes()) == glb
        assert lod["bytes_brotli"] == (out / f"{lod['file']}.br").stat().st_size
        # every level points at the one texture file instead of embedding a copy
        document, _ = read_glb(glb)
        assert {i["uri"] for i in document["images"]} == {
            texture["webp_file"],
            texture["fallback_file"],
        }
    webp = (out / texture["webp_file"]).read_bytes()
    assert texture["webp_file"] == f"{hashlib.sha256(webp).hexdigest()}.webp"
    assert not (out / f"{texture['webp_file']}.br").exists()  # images are compressed already
    again = next(a for a in manifest["assets"] if a["name"] == "again.glb")
    assert again["textures"][0]["webp_file"] == texture["webp_file"]  # stored once
    lod_files = {lod["file"]: (out / lod["file"]).read_bytes() for lod in sphere["lods"]}
    resources = {
        n: (out / n).read_bytes() for n in (texture["webp_file"], texture["fallback_file"])
    }
    reports = validate_glbs({n.removesuffix(".glb"): b for n, b in lod_files.items()}, resources)
    assert all(r["issues"]["numErrors"] == 0 for r in reports.values()), [
        problems(r) for r in reports.values()
    ]


def test_the_cli_exits_non_zero_when_an_asset_fails(tmp_path: Path):
    good = tmp_path / "ball.stl"
    good.write_bytes(CORPUS["bunny.stl"]())
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"not a glb at all")

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "assets",
            "build",
            str(good),
            str(bad),
            "--out",
            str(tmp_path / "out"),
            "--profile",
            "mobile",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
        timeout=600,
    )

    assert done.returncode == 1, done.stderr
    assert "FAILED bad.glb" in done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["profile"] == "mobile"
    ball = next(a for a in manifest["assets"] if a["name"] == "ball.stl")
    assert (tmp_path / "out" / ball["lods"][0]["file"]).is_file()


def test_instanced_trees_decode_as_25_placements_of_one_mesh(built: dict[str, BuiltAsset]):
    decoded = decode_glb(built["city.glb"].lods[0].glb)

    placements = Counter(p.instance_of for p in decoded.primitives)

    assert sorted(placements.values()) == [1, 25]  # the merged buildings, the trees


@pytest.mark.parametrize("origin", ["35.1,129.2", "north,east,up", "95,129.2,20"])
def test_the_cli_refuses_a_bad_origin_before_building(tmp_path: Path, origin: str):
    good = tmp_path / "ball.stl"
    good.write_bytes(CORPUS["bunny.stl"]())

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "assets",
            "build",
            str(good),
            "--out",
            str(tmp_path / "out"),
            "--origin",
            origin,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )

    assert done.returncode == 2
    assert "--origin" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing built
