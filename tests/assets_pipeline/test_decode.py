"""decode_glb on plain, quantized, meshopt-, Draco- and gltfpack-compressed GLBs, and
surface_distance on shapes whose distance is known."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import DracoPy
import meshoptimizer
import numpy as np
import pytest
import trimesh
from numpy.typing import NDArray
from PIL import Image
from scipy.spatial import cKDTree
from trimesh.exchange.gltf import export_glb

from assets_pipeline.decode import (
    decode_glb,
    distance_to_surface,
    sample_surface,
    surface_distance,
)
from assets_pipeline.glb import enu_to_gltf, read_glb, write_glb
from assets_pipeline.mesh import MeshPart, vertex_normals
from tests.gltf_validator import problems, validate_glb

REPO = Path(__file__).resolve().parents[2]
GLTFPACK = REPO / "bench" / "gltfpack" / "node_modules" / "gltfpack" / "cli.js"
FLOAT, BYTE, UBYTE, SHORT, USHORT, UINT = 5126, 5120, 5121, 5122, 5123, 5125


# --- helpers --------------------------------------------------------------------------------------


def pack_glb(document: dict[str, Any], blob: bytes) -> bytes:
    document = {"asset": {"version": "2.0"}, **document}
    if blob:
        document.setdefault("buffers", [{"byteLength": len(blob)}])
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    blob += b"\0" * (-len(blob) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    if blob:
        chunks += struct.pack("<II", len(blob), 0x004E4942) + blob
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def grid_part(n: int = 64, size_m: float = 100.0) -> MeshPart:
    """An n × n-sample wavy ground grid in ENU metres, with normals and UVs."""
    t = np.linspace(0.0, size_m, n)
    x, y = np.meshgrid(t, t)
    z = 5.0 * np.sin(x / 9.0) * np.cos(y / 13.0)
    positions = np.stack([x.ravel(), y.ravel(), z.ravel()], 1).astype(np.float32)
    i = np.arange(n * n).reshape(n, n)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    indices = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)]).astype(np.uint32)
    uvs = np.stack([x.ravel(), y.ravel()], 1).astype(np.float32) / size_m
    return MeshPart("grid", positions, indices, vertex_normals(positions, indices), uvs)


def run_gltfpack(data: bytes, *flags: str) -> bytes:
    node = shutil.which("node")
    assert node, "node is not installed; gltfpack (npm) needs it"
    assert GLTFPACK.is_file(), (
        "gltfpack is missing: run `npm ci --prefix bench/gltfpack` (pinned gltfpack 1.3.0)"
    )
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.glb", Path(folder) / "out.glb"
        source.write_bytes(data)
        subprocess.run(
            [node, str(GLTFPACK), "-i", str(source), "-o", str(target), *flags],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return target.read_bytes()


def nearest_gap(reference: NDArray[np.float64], test: NDArray[np.float64]) -> float:
    """Largest distance from a test vertex to its nearest reference vertex."""
    gaps, _ = cKDTree(reference).query(test)
    return float(gaps.max())


def canonical(triangles: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """Each triangle rotated to start at its smallest index (same winding)."""
    start = np.argmin(triangles, axis=1)
    order = (start[:, None] + np.arange(3)) % 3
    rotated: NDArray[np.uint32] = np.take_along_axis(triangles, order, axis=1)
    return rotated


def box_corners(width: float = 2.0) -> NDArray[np.float64]:
    box = trimesh.creation.box(extents=[width, width, width])
    corners: NDArray[np.float64] = np.asarray(box.vertices)[np.asarray(box.faces)]
    return corners


# --- plain and quantized glTF ---------------------------------------------------------------------


def test_our_own_glb_decodes_to_its_exact_positions_in_the_gltf_frame():
    part = grid_part(8)

    scene = decode_glb(write_glb([part, grid_part(4, 10.0)]))

    first = scene.primitives[0]
    assert len(scene.primitives) == 2
    np.testing.assert_array_equal(first.positions, enu_to_gltf(part.positions_m))
    np.testing.assert_array_equal(first.indices, part.indices)
    assert first.normals is not None
    assert first.uvs is not None
    np.testing.assert_allclose(first.normals, enu_to_gltf(part.normals), atol=1e-6)
    np.testing.assert_array_equal(first.uvs, part.uvs)
    assert (first.material, first.instance_of) == (0, 0)
    assert scene.primitives[1].instance_of == 1
    assert scene.images == []
    assert scene.extensions_used == []


def test_merged_concatenates_every_primitive_with_offset_indices():
    scene = decode_glb(write_glb([grid_part(8), grid_part(4, 10.0)]))

    positions, indices = scene.merged()

    assert positions.shape == (64 + 16, 3)
    assert indices.shape == (98 + 18, 3)
    assert indices.dtype == np.uint32
    np.testing.assert_array_equal(indices[98:], scene.primitives[1].indices + 64)


def quantized_glb() -> bytes:
    """Two triangles: uint16 normalized positions interleaved with int8 normalized normals
    (byteStride 12), dequantized by a child node's scale and translation under a rotated
    parent given as a matrix."""
    q = np.array([[0, 0, 0], [65535, 0, 0], [0, 65535, 0], [65535, 65535, 32768]], np.uint16)
    normals = np.array([[0, 0, 127]] * 4, dtype=np.int8)
    interleaved = bytearray()
    for position, normal in zip(q, normals, strict=True):
        interleaved += position.tobytes() + b"\0\0" + normal.tobytes() + b"\0"
    indices = np.array([0, 1, 2, 2, 1, 3], dtype=np.uint16).tobytes()
    blob = bytes(interleaved) + indices
    quarter_turn_about_y = [0, 0, -1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]  # column-major
    document = {
        "extensionsUsed": ["KHR_mesh_quantization"],
        "extensionsRequired": ["KHR_mesh_quantization"],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [
            {"matrix": quarter_turn_about_y, "children": [1]},
            {"mesh": 0, "translation": [10.0, 20.0, 30.0], "scale": [2.0, 4.0, 8.0]},
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1}, "indices": 2}]}],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": USHORT,
                "normalized": True,
                "count": 4,
                "type": "VEC3",
                "min": [0, 0, 0],
                "max": [65535, 65535, 32768],
            },
            {
                "bufferView": 0,
                "byteOffset": 8,
                "componentType": BYTE,
                "normalized": True,
                "count": 4,
                "type": "VEC3",
            },
            {"bufferView": 1, "componentType": USHORT, "count": 6, "type": "SCALAR"},
        ],
        "bufferViews": [
            {"buffer": 0, "byteLength": 48, "byteStride": 12, "target": 34962},
            {"buffer": 0, "byteOffset": 48, "byteLength": 12, "target": 34963},
        ],
    }
    return pack_glb(document, blob)


def test_a_quantized_glb_passes_the_validator():
    report = validate_glb(quantized_glb())

    assert problems(report) == []


def test_normalized_uint16_positions_dequantize_through_node_scale_translation_and_parent():
    scene = decode_glb(quantized_glb())

    (primitive,) = scene.primitives
    local = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 32768 / 65535]])
    child = local * [2.0, 4.0, 8.0] + [10.0, 20.0, 30.0]
    # The parent turns +x into -z and +z into +x: (x, y, z) -> (z, y, -x).
    expected = np.stack([child[:, 2], child[:, 1], -child[:, 0]], 1)
    np.testing.assert_allclose(primitive.positions, expected, atol=1e-9)
    np.testing.assert_array_equal(primitive.indices, [[0, 1, 2], [2, 1, 3]])
    assert primitive.normals is not None  # +z scaled by 1/8 stays +z, then turns to +x
    np.testing.assert_allclose(primitive.normals, [[1.0, 0.0, 0.0]] * 4, atol=1e-6)


def test_a_mirroring_node_keeps_triangles_counter_clockwise_in_world_space():
    document, blob = read_glb(write_glb([grid_part(4, 10.0)]))
    plain = decode_glb(pack_glb(document, blob)).primitives[0]
    document["nodes"][0]["scale"] = [-1.0, 1.0, 1.0]

    flipped = decode_glb(pack_glb(document, blob)).primitives[0]

    np.testing.assert_array_equal(flipped.indices, plain.indices[:, [0, 2, 1]])
    np.testing.assert_array_equal(flipped.positions[:, 0], -plain.positions[:, 0])


def test_texture_transform_moves_uvs_as_the_specification_example_says():
    # KHR_texture_transform's example: the lower left quadrant, rotated clockwise 90°.
    uvs = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32)
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    blob = positions.tobytes() + uvs.tobytes() + np.array([0, 1, 2, 2, 1, 3], np.uint8).tobytes()
    transform = {"offset": [0, 1], "rotation": np.pi / 2, "scale": [0.5, 0.5], "texCoord": 1}
    document = {
        "extensionsUsed": ["KHR_texture_transform"],
        "nodes": [{"mesh": 0}],
        "meshes": [
            {
                "primitives": [
                    {
                        "attributes": {"POSITION": 0, "TEXCOORD_0": 0, "TEXCOORD_1": 1},
                        "indices": 2,
                        "material": 0,
                    }
                ]
            }
        ],
        "materials": [
            {
                "pbrMetallicRoughness": {
                    "baseColorTexture": {
                        "index": 0,
                        "extensions": {"KHR_texture_transform": transform},
                    }
                }
            }
        ],
        "textures": [{"source": 0}],
        "images": [{"uri": "data:image/png;base64,iVBORw0KGgo="}],
        "accessors": [
            {"bufferView": 0, "componentType": FLOAT, "count": 4, "type": "VEC3"},
            {"bufferView": 1, "componentType": FLOAT, "count": 4, "type": "VEC2"},
            {"bufferView": 2, "componentType": UBYTE, "count": 6, "type": "SCALAR"},
        ],
        "bufferViews": [
            {"buffer": 0, "byteLength": 48},
            {"buffer": 0, "byteOffset": 48, "byteLength": 32},
            {"buffer": 0, "byteOffset": 80, "byteLength": 6},
        ],
    }

    scene = decode_glb(pack_glb(document, blob))

    uv = scene.primitives[0].uvs
    assert uv is not None  # u' = 0.5 v, v' = 1 - 0.5 u: inside [0, 0.5] × [0.5, 1]
    np.testing.assert_allclose(uv, [[0, 1], [0, 0.5], [0.5, 1], [0.5, 0.5]], atol=1e-6)
    assert scene.images == [("image/png", b"\x89PNG\r\n\x1a\n")]


def test_every_image_is_listed_including_ext_texture_webp_sources():
    png, webp = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(png, format="PNG")
    Image.new("RGB", (4, 4), (200, 10, 10)).save(webp, format="WEBP")
    blob = png.getvalue() + b"\0" * (-len(png.getvalue()) % 4) + webp.getvalue()
    document = {
        "extensionsUsed": ["EXT_texture_webp"],
        "textures": [{"source": 0, "extensions": {"EXT_texture_webp": {"source": 1}}}],
        "images": [
            {"bufferView": 0, "mimeType": "image/png"},
            {"bufferView": 1},  # no mimeType: recognised from the bytes
        ],
        "bufferViews": [
            {"buffer": 0, "byteLength": len(png.getvalue())},
            {
                "buffer": 0,
                "byteOffset": len(png.getvalue()) + (-len(png.getvalue()) % 4),
                "byteLength": len(webp.getvalue()),
            },
        ],
    }

    scene = decode_glb(pack_glb(document, blob))

    assert scene.images == [("image/png", png.getvalue()), ("image/webp", webp.getvalue())]
    assert scene.primitives == []


def test_sparse_accessors_are_refused_with_a_clear_error():
    document, blob = read_glb(write_glb([grid_part(4)]))
    document["accessors"][0]["sparse"] = {"count": 1}

    with pytest.raises(ValueError, match="sparse accessors are not supported"):
        decode_glb(pack_glb(document, blob))


def test_an_unknown_required_extension_is_refused():
    document, blob = read_glb(write_glb([grid_part(4)]))
    document["extensionsRequired"] = ["KHR_materials_variants", "EXT_unheard_of"]

    with pytest.raises(ValueError, match="EXT_unheard_of"):
        decode_glb(pack_glb(document, blob))


def test_a_document_missing_required_fields_is_a_value_error():
    document, blob = read_glb(write_glb([grid_part(4)]))
    del document["accessors"][0]["count"]

    with pytest.raises(ValueError, match="malformed glTF document"):
        decode_glb(pack_glb(document, blob))


def test_bytes_that_are_not_a_glb_are_refused():
    with pytest.raises(ValueError, match="not a GLB"):
        decode_glb(b"PK\x03\x04 definitely a zip")


# --- instancing -----------------------------------------------------------------------------------


def test_gpu_instancing_places_the_mesh_once_per_instance_with_trs():
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    translation = np.array([[0, 0, 0], [10, 0, 0]], dtype=np.float32)
    half_turn_about_z = np.array([[0, 0, 0, 1], [0, 0, 1, 0]], dtype=np.float32)
    scale = np.array([[1, 1, 1], [2, 2, 2]], dtype=np.float32)
    blob = b"".join(a.tobytes() for a in (positions, translation, half_turn_about_z, scale))
    views = [(0, 36), (36, 24), (60, 32), (92, 24)]
    document = {
        "extensionsUsed": ["EXT_mesh_gpu_instancing"],
        "nodes": [
            {
                "mesh": 0,
                "translation": [0, 5, 0],
                "extensions": {
                    "EXT_mesh_gpu_instancing": {
                        "attributes": {"TRANSLATION": 1, "ROTATION": 2, "SCALE": 3}
                    }
                },
            }
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "accessors": [
            {"bufferView": v, "componentType": FLOAT, "count": c, "type": t}
            for v, (c, t) in enumerate([(3, "VEC3"), (2, "VEC3"), (2, "VEC4"), (2, "VEC3")])
        ],
        "bufferViews": [{"buffer": 0, "byteOffset": o, "byteLength": n} for o, n in views],
    }

    scene = decode_glb(pack_glb(document, blob))

    first, second = scene.primitives
    assert first.instance_of == second.instance_of == 0
    np.testing.assert_allclose(first.positions, positions + np.array([0, 5, 0]), atol=1e-6)
    np.testing.assert_allclose(second.positions, [[10, 5, 0], [8, 5, 0], [10, 3, 0]], atol=1e-6)
    np.testing.assert_array_equal(first.indices, [[0, 1, 2]])


# --- EXT_meshopt_compression ----------------------------------------------------------------------


def meshopt_glb(mode: str) -> tuple[bytes, MeshPart]:
    """The 16 × 16 grid with positions (float32 x3, stride 12) and normals as int16x4
    through the EXPONENTIAL filter in meshopt vertex codec version 0 (what the extension
    specifies), and indices in ``mode`` TRIANGLES or INDICES. The fallback buffer has no
    data, as gltfpack writes it."""
    part = grid_part(16, 30.0)
    meshoptimizer.encode_vertex_version(0)  # the PyPI wrapper's default; set it anyway
    positions = enu_to_gltf(part.positions_m)
    assert part.normals is not None
    exponent = -12  # EXPONENTIAL: each value is a 24-bit mantissa × 2^exponent
    mantissa = np.round(enu_to_gltf(part.normals).astype(np.float64) * 2.0**-exponent)
    exp_words = (np.int64(exponent) << 24) | (mantissa.astype(np.int64) & 0xFFFFFF)
    normals = exp_words.astype(np.uint32)
    flat = part.indices.reshape(-1)
    encoded_indices = (
        meshoptimizer.encode_index_buffer(flat, len(flat), part.vertex_count)
        if mode == "TRIANGLES"
        else meshoptimizer.encode_index_sequence(flat, len(flat), part.vertex_count)
    )
    streams = [
        (meshoptimizer.encode_vertex_buffer(positions), 12, "ATTRIBUTES", "NONE", 34962),
        (meshoptimizer.encode_vertex_buffer(normals), 12, "ATTRIBUTES", "EXPONENTIAL", 34962),
        (encoded_indices, 4, mode, "NONE", 34963),
    ]
    blob, views, fallback = b"", [], 0
    for data, stride, stream_mode, filter_name, target in streams:
        count = len(flat) if stream_mode != "ATTRIBUTES" else part.vertex_count
        extension = {
            "buffer": 0,
            "byteOffset": len(blob),
            "byteLength": len(data),
            "byteStride": stride,
            "mode": stream_mode,
            "count": count,
        }
        if filter_name != "NONE":
            extension["filter"] = filter_name
        view = {
            "buffer": 1,
            "byteOffset": fallback,
            "byteLength": count * stride,
            "target": target,
            "extensions": {"EXT_meshopt_compression": extension},
        }
        if stream_mode == "ATTRIBUTES":
            view["byteStride"] = stride
        views.append(view)
        fallback += count * stride
        blob += data + b"\0" * (-len(data) % 4)
    document = {
        "extensionsUsed": ["EXT_meshopt_compression"],
        "extensionsRequired": ["EXT_meshopt_compression"],
        "buffers": [
            {"byteLength": len(blob)},
            {"byteLength": fallback, "extensions": {"EXT_meshopt_compression": {"fallback": True}}},
        ],
        "bufferViews": views,
        "accessors": [
            {
                "bufferView": 0,
                "componentType": FLOAT,
                "count": part.vertex_count,
                "type": "VEC3",
                "min": positions.min(axis=0).tolist(),
                "max": positions.max(axis=0).tolist(),
            },
            {"bufferView": 1, "componentType": FLOAT, "count": part.vertex_count, "type": "VEC3"},
            {"bufferView": 2, "componentType": UINT, "count": len(flat), "type": "SCALAR"},
        ],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1}, "indices": 2}]}],
    }
    return pack_glb(document, blob), part


@pytest.mark.parametrize("mode", ["TRIANGLES", "INDICES"])
def test_a_meshopt_compressed_glb_decodes_to_the_original(mode: str):
    data, part = meshopt_glb(mode)

    (primitive,) = decode_glb(data).primitives

    np.testing.assert_array_equal(primitive.positions, enu_to_gltf(part.positions_m))
    # The index codec may rotate a triangle's corners; winding and triangle order stay.
    np.testing.assert_array_equal(canonical(primitive.indices), canonical(part.indices))
    assert primitive.normals is not None
    assert part.normals is not None
    np.testing.assert_allclose(primitive.normals, enu_to_gltf(part.normals), atol=1e-3)


def test_the_hand_built_meshopt_glb_passes_the_validator():
    report = validate_glb(meshopt_glb("TRIANGLES")[0])

    assert report["issues"]["numErrors"] == 0, problems(report)


# --- KHR_draco_mesh_compression -------------------------------------------------------------------


def test_draco_attributes_are_mapped_by_the_extension_ids_not_by_order():
    part = grid_part(12, 40.0)
    positions = enu_to_gltf(part.positions_m)
    uvs = positions[:, [0, 2]].astype(np.float64) / 40.0  # a function of position
    normals = enu_to_gltf(vertex_normals(part.positions_m, part.indices)).astype(np.float64)
    encoded = DracoPy.encode(
        positions, part.indices, quantization_bits=16, tex_coord=uvs, normals=normals
    )
    kinds = {0: "POSITION", 1: "NORMAL", 3: "TEXCOORD_0"}  # Draco's attribute types
    ids = {
        kinds[a["attribute_type"]]: int(a["unique_id"]) for a in DracoPy.decode(encoded).attributes
    }
    n = part.vertex_count
    document = {
        "extensionsUsed": ["KHR_draco_mesh_compression"],
        "extensionsRequired": ["KHR_draco_mesh_compression"],
        "nodes": [{"mesh": 0}],
        "meshes": [
            {
                "primitives": [
                    {
                        "attributes": {"TEXCOORD_0": 2, "NORMAL": 1, "POSITION": 0},
                        "indices": 3,
                        "extensions": {
                            "KHR_draco_mesh_compression": {"bufferView": 0, "attributes": ids}
                        },
                    }
                ]
            }
        ],
        "accessors": [
            {"componentType": FLOAT, "count": n, "type": "VEC3"},
            {"componentType": FLOAT, "count": n, "type": "VEC3"},
            {"componentType": FLOAT, "count": n, "type": "VEC2"},
            {"componentType": UINT, "count": part.triangle_count * 3, "type": "SCALAR"},
        ],
        "bufferViews": [{"buffer": 0, "byteLength": len(encoded)}],
    }

    (primitive,) = decode_glb(pack_glb(document, encoded)).primitives

    assert primitive.uvs is not None
    assert primitive.normals is not None
    assert len(primitive.indices) == part.triangle_count
    assert nearest_gap(positions.astype(np.float64), primitive.positions) < 1e-2
    np.testing.assert_allclose(primitive.uvs, primitive.positions[:, [0, 2]] / 40.0, atol=1e-3)
    assert (primitive.normals[:, 1] > 0.5).all()  # the wavy ground's normals point up


# --- gltfpack output ------------------------------------------------------------------------------


def test_gltfpack_cc_output_decodes_to_the_input_within_quantization_error():
    part = grid_part(64)
    source = write_glb([part])
    reference = decode_glb(source)

    packed = decode_glb(run_gltfpack(source, "-cc"))

    assert {"EXT_meshopt_compression", "KHR_mesh_quantization"} <= set(packed.extensions_used)
    positions, indices = packed.merged()
    ref_positions, ref_indices = reference.merged()
    diagonal = float(np.linalg.norm(np.ptp(ref_positions, axis=0)))
    assert len(indices) == len(ref_indices)
    assert nearest_gap(ref_positions, positions) < 1e-3 * diagonal
    mean, p99 = surface_distance(ref_positions, ref_indices, positions, indices, samples=20_000)
    assert mean < 1e-4 * diagonal
    assert p99 < 3e-4 * diagonal
    normals = packed.primitives[0].normals
    assert normals is not None  # int8 octahedral: a couple of degrees at most
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    _, nearest = cKDTree(ref_positions).query(positions)
    ref_normals = reference.primitives[0].normals
    assert ref_normals is not None
    assert float(np.min(np.sum(normals * ref_normals[nearest], axis=1))) > np.cos(np.radians(3))


def test_gltfpack_quantized_uvs_come_back_through_its_texture_transform():
    part = grid_part(32)
    texture = Image.fromarray(np.random.default_rng(3).integers(0, 255, (64, 64, 3), np.uint8))
    texture.format = "PNG"  # trimesh embeds PNG-format images as they are
    assert part.uvs is not None
    mesh = trimesh.Trimesh(
        vertices=enu_to_gltf(part.positions_m),
        faces=part.indices,
        # trimesh flips v on export (its UVs have v up); glTF's v grows downwards.
        visual=trimesh.visual.TextureVisuals(
            uv=part.uvs * [1, -1] + [0, 1],
            material=trimesh.visual.material.PBRMaterial(baseColorTexture=texture),
        ),
        process=False,
    )
    source = export_glb(trimesh.Scene(mesh))
    reference = decode_glb(source).primitives[0]

    packed = decode_glb(run_gltfpack(source, "-cc"))

    assert "KHR_texture_transform" in packed.extensions_used
    (primitive,) = packed.primitives
    assert primitive.uvs is not None
    assert reference.uvs is not None
    np.testing.assert_allclose(reference.uvs, part.uvs, atol=1e-6)
    _, nearest = cKDTree(reference.positions).query(primitive.positions)
    # gltfpack's default: 12-bit UVs over the UV range
    np.testing.assert_allclose(primitive.uvs, reference.uvs[nearest], atol=1.5 / 4095)
    assert len(packed.images) == 1


def test_gltfpack_instancing_decodes_to_one_placement_per_node():
    tree = trimesh.creation.cone(radius=2.0, height=6.0, sections=12)
    rng = np.random.default_rng(7)
    scene = trimesh.Scene()
    offsets = rng.uniform(-200.0, 200.0, size=(20, 3)) * [1, 0, 1]
    for k, offset in enumerate(offsets):
        matrix = trimesh.transformations.rotation_matrix(rng.uniform(0, 6.3), [0, 1, 0])
        matrix[:3, 3] = offset
        if k == 0:
            scene.add_geometry(tree, geom_name="tree", node_name="tree_0", transform=matrix)
        else:  # the same geometry name: one glTF mesh referenced by 20 nodes
            base = scene.graph.base_frame
            scene.graph.update(
                frame_to=f"tree_{k}", frame_from=base, geometry="tree", matrix=matrix
            )
    source = export_glb(scene, include_normals=True)
    reference = decode_glb(source)
    assert len(reference.primitives) == 20

    packed = decode_glb(run_gltfpack(source, "-cc", "-mi"))

    assert "EXT_mesh_gpu_instancing" in packed.extensions_used
    assert len(packed.primitives) == 20
    assert len({p.instance_of for p in packed.primitives}) == 1
    ref_centres = np.array([p.positions.mean(axis=0) for p in reference.primitives])
    centres = np.array([p.positions.mean(axis=0) for p in packed.primitives])
    assert nearest_gap(ref_centres, centres) < 0.05
    positions, indices = packed.merged()
    ref_positions, ref_indices = reference.merged()
    assert nearest_gap(ref_positions, positions) < 0.05
    mean, _ = surface_distance(ref_positions, ref_indices, positions, indices, samples=20_000)
    assert mean < 0.01


# --- surface_distance -----------------------------------------------------------------------------


def test_parallel_planes_are_exactly_their_offset_apart():
    square = np.array([[0, 0, 0], [50, 0, 0], [50, 50, 0], [0, 50, 0]], dtype=np.float64)
    quads = np.array([[0, 1, 2], [0, 2, 3]])
    fine = grid_part(20, 50.0)
    fine_flat = fine.positions_m.astype(np.float64) * [1, 1, 0] + [0, 0, 0.75]

    mean, p99 = surface_distance(square, quads, fine_flat, fine.indices, samples=50_000)

    assert mean == pytest.approx(0.75, abs=1e-9)
    assert p99 == pytest.approx(0.75, abs=1e-9)


def test_a_sphere_mesh_and_its_scaled_copy_are_a_tenth_of_the_face_distance_apart():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    positions = np.asarray(sphere.vertices)
    faces = np.asarray(sphere.faces)
    corners = positions[faces]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    face_distance = np.abs(np.sum(normal * corners[:, 0], axis=1)) / np.linalg.norm(normal, axis=1)

    mean, p99 = surface_distance(positions, faces, positions * 1.1, faces, samples=50_000)

    # Inner → outer is exactly 0.1 × the face plane's distance from the centre; outer →
    # inner is at most 0.1 (an outer point is within 0.1 × its radius of the inner mesh).
    assert 0.1 * face_distance.min() - 1e-9 <= mean <= 0.1
    assert mean == pytest.approx(0.1 * float(face_distance.mean()), abs=1e-3)
    assert p99 <= 0.1 + 1e-9


def test_distance_to_surface_is_exact_with_triangles_of_very_different_sizes():
    rng = np.random.default_rng(1)
    big = rng.random((20, 3, 3)) * 100
    small = rng.random((3000, 1, 3)) * 100 + rng.random((3000, 3, 3)) * 0.5
    collapsed = np.repeat(rng.random((10, 1, 3)) * 100, 3, axis=1)
    collinear = rng.random((10, 3, 3)) * 100
    collinear[:, 2] = 0.3 * collinear[:, 0] + 0.7 * collinear[:, 1]
    corners = np.concatenate([big, small, collapsed, collinear, box_corners()])
    points = rng.random((400, 3)) * 110 - 5

    distances = distance_to_surface(points, corners)

    brute = np.array([min_distance_brute(p, corners) for p in points])
    np.testing.assert_allclose(distances, brute, atol=1e-9)


def min_distance_brute(point: NDArray[np.float64], corners: NDArray[np.float64]) -> float:
    """Nearest distance by dense sampling refined with trimesh, an independent check."""
    closest = trimesh.triangles.closest_point(corners, np.repeat(point[None], len(corners), 0))
    area = np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    distances = np.linalg.norm(closest - point, axis=1)
    # trimesh's closest point is unreliable on (nearly) flat triangles: use their edges.
    longest = np.ptp(corners, axis=1).max(axis=1)
    for i in np.flatnonzero(area <= 1e-9 * longest**2):
        distances[i] = min(segment_distance(point, *corners[i, [e, (e + 1) % 3]]) for e in range(3))
    return float(distances.min())


def segment_distance(
    point: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64]
) -> float:
    ab = b - a
    t = 0.0 if not ab.any() else float(np.clip(np.dot(point - a, ab) / np.dot(ab, ab), 0, 1))
    return float(np.linalg.norm(point - (a + t * ab)))


def test_samples_are_spread_over_the_surface_by_area():
    big = np.array([[[0, 0, 0], [3, 0, 0], [0, 3, 0]]], dtype=np.float64)  # area 4.5
    small = np.array([[[10, 0, 0], [11, 0, 0], [10, 1, 0]]], dtype=np.float64)  # area 0.5

    points = sample_surface(np.concatenate([big, small]), 100_000, np.random.default_rng(0))

    share = float(np.mean(points[:, 0] >= 10))
    assert share == pytest.approx(0.1, abs=0.005)
    assert (points[:, 2] == 0).all()


def test_surface_distance_refuses_an_empty_surface():
    with pytest.raises(ValueError, match="at least one triangle"):
        surface_distance(np.zeros((3, 3)), np.zeros((0, 3), np.uint32), np.eye(3), [[0, 1, 2]])
