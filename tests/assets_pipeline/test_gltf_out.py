"""The compressed GLB writer: validator-clean, and it decodes back to what went in."""

from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh
from PIL import Image
from scipy.spatial import cKDTree

from assets_pipeline.decode import decode_glb
from assets_pipeline.glb import read_glb
from assets_pipeline.gltf_out import (
    Codec,
    EncodeOptions,
    OutputMesh,
    start_compressed_glb,
    write_compressed_glb,
)
from assets_pipeline.mesh import MeshPart, Texture
from assets_pipeline.procedural.terrain import heightfield, terrain_mesh
from assets_pipeline.steps.optimize import optimize_order
from assets_pipeline.steps.prepare import with_normals
from assets_pipeline.textures import EncodedTexture, encode_texture
from tests.gltf_validator import problems, validate_glbs

CODECS: list[Codec] = ["meshopt", "draco", "none"]


def yaw(angle_rad: float, east_m: float, north_m: float) -> np.ndarray:
    m = np.eye(4)
    m[:2, :2] = [[np.cos(angle_rad), -np.sin(angle_rad)], [np.sin(angle_rad), np.cos(angle_rad)]]
    m[:3, 3] = [east_m, north_m, 0.0]
    return m


def canonical(triangles: np.ndarray) -> np.ndarray:
    """Each triangle rotated to start at its smallest index."""
    first = triangles.argmin(axis=1)
    return np.stack([np.roll(t, -f) for t, f in zip(triangles, first, strict=True)])


@pytest.fixture(scope="module")
def terrain() -> MeshPart:
    return optimize_order(terrain_mesh(heightfield(2000, 2000, 65, seed=5, relief_m=80)))


@pytest.fixture(scope="module")
def tree() -> MeshPart:
    cone = trimesh.creation.cone(3.0, 9.0, sections=12)
    return with_normals(
        MeshPart("tree", np.asarray(cone.vertices, np.float32), np.asarray(cone.faces, np.uint32))
    )


@pytest.fixture(scope="module")
def textured_quad() -> OutputMesh:
    rng = np.random.default_rng(3)
    pixels = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    texture = Texture("noise", png.getvalue(), "image/png")
    part = MeshPart(
        "quad",
        np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], np.float32),
        np.array([[0, 1, 2], [0, 2, 3]], np.uint32),
        normals=np.tile(np.array([0, 0, 1], np.float32), (4, 1)),
        uvs=np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32),
        base_color_texture=texture,
    )
    return OutputMesh(part, [np.eye(4)], encode_texture(texture, "desktop"))


@pytest.fixture(scope="module")
def outputs(terrain: MeshPart, tree: MeshPart, textured_quad: OutputMesh) -> dict[str, bytes]:
    forest = [yaw(i * 0.7, 40.0 * i, -25.0 * i) for i in range(12)]
    out = {}
    for codec in CODECS:
        options = EncodeOptions(codec=codec)
        out[f"terrain-{codec}"] = write_compressed_glb([OutputMesh(terrain, [np.eye(4)])], options)
        out[f"forest-{codec}"] = write_compressed_glb([OutputMesh(tree, forest)], options)
        out[f"textured-{codec}"] = write_compressed_glb([textured_quad], options)
    return out


def test_every_output_passes_the_khronos_validator(outputs: dict[str, bytes]):
    reports = validate_glbs(outputs)

    for name, report in reports.items():
        assert report["issues"]["numErrors"] == 0, (name, problems(report))
        assert report["issues"]["numWarnings"] == 0, (name, problems(report))


def matched(decoded: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """For each decoded vertex, the index of the nearest expected one (Draco reorders)."""
    return cKDTree(expected).query(decoded)[1]


@pytest.mark.parametrize("codec", CODECS)
def test_positions_and_normals_decode_within_quantization_error(
    outputs: dict[str, bytes], terrain: MeshPart, codec: str
):
    decoded = decode_glb(outputs[f"terrain-{codec}"])
    [primitive] = decoded.primitives
    p = terrain.positions_m.astype(np.float64)
    expected = np.stack([p[:, 0], p[:, 2], -p[:, 1]], axis=1)  # ENU → glTF
    step = float(np.ptp(expected, axis=0).max()) / (2**14 - 1)
    source = matched(primitive.positions, expected)

    assert len(primitive.positions) == len(expected)
    assert np.abs(primitive.positions - expected[source]).max() <= step / 2 + 1e-6
    # the same triangles, whatever order and corner rotation the codec chose
    assert sorted(map(tuple, canonical(source[primitive.indices]).tolist())) == sorted(
        map(tuple, canonical(terrain.indices).tolist())
    )
    assert primitive.normals is not None
    assert terrain.normals is not None
    n = terrain.normals.astype(np.float64)[source]
    cos = (primitive.normals * np.stack([n[:, 0], n[:, 2], -n[:, 1]], axis=1)).sum(axis=1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.5


@pytest.mark.parametrize("codec", CODECS)
def test_a_forest_is_one_mesh_drawn_with_gpu_instancing(
    outputs: dict[str, bytes], tree: MeshPart, codec: str
):
    data = outputs[f"forest-{codec}"]
    document, _ = read_glb(data)
    decoded = decode_glb(data)

    assert len(document["meshes"]) == 1
    assert "EXT_mesh_gpu_instancing" in document["extensionsRequired"]
    assert len(decoded.primitives) == 12
    tops = sorted(float(p.positions[:, 1].max()) for p in decoded.primitives)
    assert tops == pytest.approx([tree.positions_m[:, 2].max()] * 12, abs=0.01)
    centres = sorted(round(float(p.positions[:, 0].mean())) for p in decoded.primitives)
    assert centres == [40 * i for i in range(12)]


@pytest.mark.parametrize("codec", CODECS)
def test_textures_ship_as_webp_with_a_fallback_and_uvs_survive(
    outputs: dict[str, bytes], textured_quad: OutputMesh, codec: str
):
    data = outputs[f"textured-{codec}"]
    document, _ = read_glb(data)
    decoded = decode_glb(data)

    assert "EXT_texture_webp" in document["extensionsUsed"]
    if codec == "draco":
        assert "KHR_draco_mesh_compression" in document["extensionsRequired"]
    assert "EXT_texture_webp" not in document.get("extensionsRequired", [])
    assert sorted(mime for mime, _ in decoded.images) == ["image/jpeg", "image/webp"]  # opaque
    [primitive] = decoded.primitives
    assert primitive.uvs is not None
    part = textured_quad.part
    assert part.uvs is not None
    p = part.positions_m.astype(np.float64)
    source = matched(primitive.positions, np.stack([p[:, 0], p[:, 2], -p[:, 1]], axis=1))
    assert np.abs(primitive.uvs - part.uvs[source]).max() < 1e-3


def late_textured(quad: OutputMesh) -> tuple[OutputMesh, list[str]]:
    """``quad`` whose texture is a call (as while it is still being encoded), and the
    list that call appends to each time it is asked."""
    asked: list[str] = []

    def later() -> EncodedTexture:
        asked.append("texture")
        assert isinstance(quad.texture, EncodedTexture)
        return quad.texture

    return OutputMesh(quad.part, quad.matrices, later), asked


@pytest.mark.parametrize("codec", CODECS)
def test_a_texture_still_encoding_is_awaited_once_and_written_like_a_ready_one(
    outputs: dict[str, bytes], textured_quad: OutputMesh, codec: Codec
):
    late, asked = late_textured(textured_quad)
    options = EncodeOptions(codec=codec)

    data = write_compressed_glb([late, late], options)  # two meshes, one texture

    assert asked == ["texture", "texture"]
    document, _ = read_glb(data)
    assert len(document["images"]) == 2  # the WebP and its fallback, written once
    assert write_compressed_glb([late], options) == outputs[f"textured-{codec}"]


@pytest.mark.parametrize("codec", CODECS)
def test_a_pending_glb_ranks_without_images_and_finishes_once(
    outputs: dict[str, bytes], textured_quad: OutputMesh, codec: Codec
):
    late, asked = late_textured(textured_quad)

    pending = start_compressed_glb([late], EncodeOptions(codec=codec))
    geometry = pending.geometry_glb()

    assert asked == []  # ranking does not wait for the texture
    document, blob = read_glb(geometry)
    assert "images" not in document
    finished = pending.finish()
    assert finished == outputs[f"textured-{codec}"]
    _, finished_blob = read_glb(finished)
    assert finished_blob[: len(blob)] == blob  # the images are appended after the streams
    with pytest.raises(RuntimeError, match="twice"):
        pending.finish()


def test_meshopt_is_much_smaller_than_plain_quantized(outputs: dict[str, bytes]):
    assert len(outputs["terrain-meshopt"]) < 0.5 * len(outputs["terrain-none"])
