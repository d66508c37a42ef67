"""Input readers: every input is generated here (trimesh exports or hand-written glTF)."""

from __future__ import annotations

import base64
import io
import json
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh
from PIL import Image

from assets_pipeline.mesh import MeshError, SourceScene
from assets_pipeline.readers import (
    InputLimits,
    read_asset,
    read_asset_with_report,
    read_path,
    read_path_with_report,
    safe_reference,
)

# ------------------------------------------------------------------ observing file opens

_RECORDERS: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _RECORDERS:
        for recorder in _RECORDERS:
            recorder.append(str(args[0]))


sys.addaudithook(_audit)  # hooks cannot be removed; this one records inside recording_opens()


@contextmanager
def recording_opens() -> Iterator[list[str]]:
    """Every path the process opens inside the block (io.open, os.open, Path.open)."""
    recorder: list[str] = []
    _RECORDERS.append(recorder)
    try:
        yield recorder
    finally:
        _RECORDERS.remove(recorder)


def was_opened(path: Path, opened: list[str]) -> bool:
    return str(path) in opened or str(path.resolve()) in opened


# ------------------------------------------------------------------ inputs


def unit_box() -> trimesh.Trimesh:
    """The cube [0, 1]³ (y-up file coordinates), so it has a vertex at (0, 1, 0)."""
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    box.apply_translation((0.5, 0.5, 0.5))
    return box


def as_enu(points: np.ndarray) -> set[tuple[float, float, float]]:
    return {(round(x, 6), round(-z, 6) + 0.0, round(y, 6)) for x, y, z in points.tolist()}


def positions(scene: SourceScene) -> set[tuple[float, float, float]]:
    return {tuple(round(c, 6) + 0.0 for c in p) for p in scene.parts[0].positions_m.tolist()}


def two_tone_png() -> bytes:
    """8×8: the top half (image rows 0-3) red, the bottom half blue."""
    image = Image.new("RGB", (8, 8), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 8, 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def textured_quad(simple: bool = False) -> trimesh.Trimesh:
    """A unit quad whose vertex 0 has trimesh/OBJ UV (0.25, 0.25), i.e. near the image's
    bottom (blue), and vertex 3 has (0.25, 0.75), near its top (red)."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float64)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    uv = np.array([[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]])
    image = Image.open(io.BytesIO(two_tone_png()))
    material: trimesh.visual.material.Material
    if simple:
        material = trimesh.visual.material.SimpleMaterial(
            name="brick", image=image, diffuse=[0.2, 0.4, 0.6, 1.0]
        )
    else:
        material = trimesh.visual.material.PBRMaterial(
            name="brick",
            baseColorTexture=image,
            baseColorFactor=[0.2, 0.4, 0.6, 1.0],  # n/255 values: trimesh stores uint8
            roughnessFactor=0.25,
            metallicFactor=0.5,
        )
    visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return trimesh.Trimesh(vertices, faces, visual=visual, process=False)


def export(mesh: trimesh.Trimesh, file_type: str) -> tuple[str, bytes, dict[str, bytes]]:
    """(file name, bytes, sidecars) of ``mesh`` exported by trimesh."""
    if file_type == "glb":
        return "m.glb", trimesh.Scene(mesh).export(file_type="glb"), {}
    if file_type == "gltf":
        files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(mesh), embed_buffers=True)
        return "m.gltf", files["model.gltf"], {}
    if file_type == "obj":
        text, files = trimesh.exchange.obj.export_obj(
            mesh, include_texture=True, return_texture=True, mtl_name="m.mtl"
        )
        return "m.obj", text.encode(), files
    if file_type == "ply":
        return "m.ply", trimesh.exchange.ply.export_ply(mesh, encoding="binary"), {}
    return "m.stl", trimesh.exchange.stl.export_stl(mesh), {}


_COMPONENT = {np.dtype(np.float32): 5126, np.dtype(np.uint8): 5121, np.dtype(np.uint16): 5123}
_COMPONENT[np.dtype(np.uint32)] = 5125
_TYPE = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}


def gltf_document(
    vertices: Any,
    indices: Any = None,
    *,
    attributes: dict[str, np.ndarray] | None = None,
    material: dict[str, Any] | None = None,
    png: bytes | None = None,
) -> dict[str, Any]:
    """A one-mesh, one-node glTF with one embedded buffer; UVs etc. go in as written."""
    blob = bytearray()
    views: list[dict[str, Any]] = []
    accessors: list[dict[str, Any]] = []

    def add(array: np.ndarray, normalized: bool = False) -> int:
        array = np.ascontiguousarray(array)
        while len(blob) % 4:
            blob.append(0)
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": array.nbytes})
        blob.extend(array.tobytes())
        width = 1 if array.ndim == 1 else array.shape[1]
        accessor = {
            "bufferView": len(views) - 1,
            "componentType": _COMPONENT[array.dtype],
            "count": int(array.shape[0]),
            "type": _TYPE[width],
        }
        if normalized:
            accessor["normalized"] = True
        accessors.append(accessor)
        return len(accessors) - 1

    primitive: dict[str, Any] = {
        "attributes": {"POSITION": add(np.asarray(vertices, dtype=np.float32))}
    }
    if indices is not None:
        primitive["indices"] = add(np.asarray(indices, dtype=np.uint32).reshape(-1))
    for key, array in (attributes or {}).items():
        primitive["attributes"][key] = add(array, normalized=array.dtype != np.float32)
    document: dict[str, Any] = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"name": "thing", "primitives": [primitive]}],
    }
    if material is not None:
        primitive["material"] = 0
        document["materials"] = [material]
    if png is not None:
        while len(blob) % 4:
            blob.append(0)
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(png)})
        blob.extend(png)
        document["images"] = [{"bufferView": len(views) - 1, "mimeType": "image/png"}]
        document["textures"] = [{"source": 0}]
    uri = "data:application/octet-stream;base64," + base64.b64encode(bytes(blob)).decode()
    document.update(
        accessors=accessors,
        bufferViews=views,
        buffers=[{"byteLength": len(blob), "uri": uri}],
    )
    return document


TRIANGLE = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]


def read_gltf(document: dict[str, Any], **kwargs: Any) -> SourceScene:
    return read_asset("hand.gltf", json.dumps(document).encode(), **kwargs)


def error_of(name: str, data: bytes, **kwargs: Any) -> MeshError:
    with pytest.raises(MeshError) as caught:
        read_asset(name, data, **kwargs)
    return caught.value


def sample(texture_png: bytes, uv: np.ndarray) -> tuple[int, ...]:
    """The texel at a glTF-convention UV (v = 0 is the image's top row)."""
    image = Image.open(io.BytesIO(texture_png)).convert("RGB")
    x = min(int(uv[0] * image.width), image.width - 1)
    y = min(int(uv[1] * image.height), image.height - 1)
    return tuple(image.getpixel((x, y)))


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("file_type", ["glb", "gltf", "obj", "ply", "stl"])
def test_a_unit_box_reads_back_with_its_triangles_and_y_up_positions_in_enu(file_type: str):
    box = unit_box()
    name, data, sidecars = export(box, file_type)

    scene = read_asset(name, data, sidecars=sidecars)

    assert len(scene.parts) == 1
    assert scene.parts[0].triangle_count == 12
    assert positions(scene) == as_enu(box.vertices)
    assert (0.0, 0.0, 1.0) in positions(scene)  # file (0, 1, 0): y-up → ENU up
    assert (0.0, -1.0, 0.0) in positions(scene)  # file (0, 0, 1): towards +z = south
    assert [p.matrix.tolist() for p in scene.placements] == [np.eye(4).tolist()]


def test_winding_survives_the_axis_change_so_box_faces_still_point_outwards():
    scene = read_asset(*export(unit_box(), "glb")[:2])
    part = scene.parts[0]
    corners = part.positions_m[part.indices].astype(np.float64)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    outwards = corners.mean(axis=1) - part.positions_m.mean(axis=0)

    assert (np.einsum("ij,ij->i", normals, outwards) > 0).all()


@pytest.mark.parametrize("file_type", ["glb", "gltf", "obj"])
def test_a_textured_quad_keeps_its_material_texture_and_uvs_in_gltf_convention(file_type: str):
    name, data, sidecars = export(textured_quad(simple=file_type == "obj"), file_type)

    part = read_asset(name, data, sidecars=sidecars).parts[0]

    assert part.base_color_rgba == pytest.approx((0.2, 0.4, 0.6, 1.0))
    assert part.base_color_texture is not None
    assert part.base_color_texture.mime_type == "image/png"
    assert part.uvs is not None
    # trimesh/OBJ v = 0.25 (lower part of the image) is glTF v = 0.75
    index = int(np.flatnonzero((part.positions_m == [0, 0, 0]).all(axis=1))[0])
    assert part.uvs[index].tolist() == pytest.approx([0.25, 0.75])
    # and sampling with the glTF convention finds the colour the source meant
    top = int(np.flatnonzero((part.positions_m == [0, 0, 1]).all(axis=1))[0])
    assert sample(part.base_color_texture.data, part.uvs[index]) == (0, 0, 255)
    assert sample(part.base_color_texture.data, part.uvs[top]) == (255, 0, 0)


def test_gltf_texture_bytes_and_factors_are_the_files_own_not_trimesh_rounded_ones():
    png = two_tone_png()
    document = gltf_document(
        TRIANGLE,
        [0, 1, 2],
        attributes={"TEXCOORD_0": np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32)},
        material={
            "name": "wall",
            "doubleSided": True,
            "pbrMetallicRoughness": {
                "baseColorFactor": [0.3, 0.7, 0.123456, 0.5],
                "baseColorTexture": {"index": 0},
                "roughnessFactor": 0.33,
                "metallicFactor": 7.0,  # out of range: clamped
            },
        },
        png=png,
    )

    part = read_gltf(document).parts[0]

    assert part.base_color_texture is not None
    assert part.base_color_texture.data == png
    assert part.base_color_rgba == pytest.approx((0.3, 0.7, 0.123456, 0.5))
    assert (part.roughness, part.metallic) == pytest.approx((0.33, 1.0))
    assert part.double_sided
    assert part.material_name == "wall"
    assert part.uvs is not None
    assert part.uvs.tolist() == [[0, 0], [1, 0], [0, 1]]  # a glTF file's UVs are not flipped


def test_gltf_default_material_is_the_specs_metallic_one_and_normals_come_from_the_file():
    document = gltf_document(
        TRIANGLE,
        [0, 1, 2],
        attributes={"NORMAL": np.array([[0, 0, 1]] * 3, dtype=np.float32)},
    )

    part = read_gltf(document).parts[0]

    assert (part.roughness, part.metallic) == (1.0, 1.0)
    assert part.normals is not None
    assert part.normals.tolist() == [[0, -1, 0]] * 3  # glTF +z is south


def test_gltf_without_normals_leaves_them_to_the_pipeline():
    assert read_gltf(gltf_document(TRIANGLE, [0, 1, 2])).parts[0].normals is None


def test_normalized_integer_uvs_and_uint16_colours_are_scaled_not_wrapped():
    document = gltf_document(
        TRIANGLE,
        [0, 1, 2],
        attributes={
            "TEXCOORD_0": np.array([[0, 0], [65535, 0], [0, 32768]], dtype=np.uint16),
            "COLOR_0": np.array(
                [[65535, 0, 0, 65535], [0, 32896, 0, 65535], [0, 0, 257, 0]], dtype=np.uint16
            ),
        },
    )

    part = read_gltf(document).parts[0]

    assert part.uvs is not None
    assert np.allclose(part.uvs, [[0, 0], [1, 0], [0, 32768 / 65535]])
    assert part.colors_rgba is not None
    assert part.colors_rgba.tolist() == [[255, 0, 0, 255], [0, 128, 0, 255], [0, 0, 1, 0]]


def test_float_rgb_vertex_colours_gain_an_opaque_alpha():
    colors = np.array([[1, 0, 0], [0, 0.5, 0], [0, 0, 2]], dtype=np.float32)
    document = gltf_document(TRIANGLE, [0, 1, 2], attributes={"COLOR_0": colors})

    part = read_gltf(document).parts[0]

    assert part.colors_rgba is not None
    assert part.colors_rgba.tolist() == [[255, 0, 0, 255], [0, 128, 0, 255], [0, 0, 255, 255]]


def test_khr_texture_transform_is_baked_into_the_uvs():
    document = gltf_document(
        TRIANGLE,
        [0, 1, 2],
        attributes={"TEXCOORD_0": np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32)},
        material={
            "pbrMetallicRoughness": {
                "baseColorTexture": {
                    "index": 0,
                    "extensions": {
                        "KHR_texture_transform": {"offset": [0.5, 0.25], "scale": [2, 3]}
                    },
                }
            }
        },
        png=two_tone_png(),
    )
    document["extensionsRequired"] = ["KHR_texture_transform"]

    part = read_gltf(document).parts[0]

    assert part.uvs is not None
    assert np.allclose(part.uvs, [[0.5, 0.25], [2.5, 0.25], [0.5, 3.25]])


def test_khr_texture_transform_rotates_like_cesium_and_three_js():
    # u' = u·cos r + v·sin r, v' = v·cos r − u·sin r (the spec's GLSL reads the other way
    # round; the reference viewers and the TextureTransformTest sample agree on this one)
    document = gltf_document(
        TRIANGLE,
        [0, 1, 2],
        attributes={"TEXCOORD_0": np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32)},
        material={
            "pbrMetallicRoughness": {
                "baseColorTexture": {
                    "index": 0,
                    "extensions": {"KHR_texture_transform": {"rotation": np.pi / 2}},
                }
            }
        },
        png=two_tone_png(),
    )

    part = read_gltf(document).parts[0]

    assert part.uvs is not None
    assert np.allclose(part.uvs, [[0, 0], [0, -1], [1, 0]], atol=1e-6)


def test_a_glb_without_a_bin_chunk_reads_its_data_uris():
    text = json.dumps(gltf_document(TRIANGLE, [0, 1, 2])).encode()
    text += b" " * (-len(text) % 4)
    glb = struct.pack("<4sII", b"glTF", 2, 20 + len(text)) + struct.pack(
        "<II", len(text), 0x4E4F534A
    )

    assert read_asset("uris.glb", glb + text).parts[0].triangle_count == 1


def test_a_texture_on_a_second_uv_set_uses_that_set():
    document = gltf_document(
        TRIANGLE,
        [0, 1, 2],
        attributes={
            "TEXCOORD_0": np.zeros((3, 2), dtype=np.float32),
            "TEXCOORD_1": np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32),
        },
        material={"pbrMetallicRoughness": {"baseColorTexture": {"index": 0, "texCoord": 1}}},
        png=two_tone_png(),
    )

    part = read_gltf(document).parts[0]

    assert part.uvs is not None
    assert part.uvs.tolist() == [[0, 0], [1, 0], [0, 1]]


def test_obj_materials_from_the_mtl_become_one_part_each_with_exact_factors():
    obj = b"""mtllib m.mtl
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
usemtl red
f 1 2 3
usemtl blue
f 1 3 4
"""
    mtl = b"newmtl red\nKd 1 0 0.123\nd 0.5\nnewmtl blue\nKd 0 0 1\nNs 100\n"

    scene = read_asset("two.obj", obj, sidecars={"m.mtl": mtl})

    by_name = {part.material_name: part for part in scene.parts}
    assert set(by_name) == {"red", "blue"}
    assert by_name["red"].base_color_rgba == pytest.approx((1, 0, 0.123, 0.5))
    assert by_name["red"].roughness == 0.9  # no Ns: the pipeline's default
    assert by_name["blue"].base_color_rgba == (0, 0, 1, 1)
    assert by_name["blue"].roughness == pytest.approx((2 / 102) ** 0.25)
    assert len(scene.placements) == 2


def test_an_obj_texture_is_found_in_a_sidecar_subfolder_and_by_case_insensitive_name():
    obj = b"mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\n"
    obj += b"usemtl a\nf 1/1 2/2 3/3\n"
    mtl = b"newmtl a\nmap_Kd Textures\\Wall.PNG\n"
    png = two_tone_png()

    part = read_asset("m.obj", obj, sidecars={"m.mtl": mtl, "textures/wall.png": png}).parts[0]

    assert part.base_color_texture is not None
    assert part.base_color_texture.data == png
    assert part.uvs is not None
    assert part.uvs.tolist() == [[0, 1], [1, 1], [0, 0]]


def test_ply_vertex_colours_are_read_as_srgb_and_stored_linear():
    box = unit_box()
    box.visual.vertex_colors = np.tile([255, 128, 0, 200], (len(box.vertices), 1))
    name, data, _ = export(box, "ply")

    part = read_asset(name, data).parts[0]

    assert part.colors_rgba is not None
    assert part.colors_rgba.tolist() == [[255, 55, 0, 200]] * len(box.vertices)
    assert part.base_color_texture is None


def test_stl_keeps_one_vertex_per_corner_so_flat_shading_survives():
    part = read_asset(*export(unit_box(), "stl")[:2]).parts[0]

    assert part.vertex_count == 36
    assert part.normals is None


def test_draco_compressed_glb_is_decoded_by_trimesh():
    glb = trimesh.exchange.gltf.export_glb(trimesh.Scene(textured_quad()), extension_draco=True)
    assert b"KHR_draco_mesh_compression" in glb

    part = read_asset("d.glb", glb).parts[0]

    assert part.triangle_count == 2
    assert part.base_color_texture is not None
    index = int(np.flatnonzero((part.positions_m == [0, 0, 0]).all(axis=1))[0])
    assert part.uvs is not None
    assert part.uvs[index].tolist() == pytest.approx([0.25, 0.75], abs=1e-3)


def test_draco_data_that_does_not_decode_is_an_error_not_zeros():
    glb = bytearray(
        trimesh.exchange.gltf.export_glb(trimesh.Scene(unit_box()), extension_draco=True)
    )
    json_length = struct.unpack_from("<I", glb, 12)[0]
    document = json.loads(glb[20 : 20 + json_length])
    view = document["bufferViews"][
        document["meshes"][0]["primitives"][0]["extensions"]["KHR_draco_mesh_compression"][
            "bufferView"
        ]
    ]
    start = 20 + json_length + 8 + view.get("byteOffset", 0)
    glb[start : start + view["byteLength"]] = b"\xff" * view["byteLength"]

    with pytest.raises(MeshError) as caught:
        read_asset("broken.glb", bytes(glb))

    assert caught.value.code == "bad_input"
    assert "broken.glb" in caught.value.message


# ------------------------------------------------------------------ scene graph


def test_a_mesh_used_by_five_nodes_is_one_part_with_five_placements_in_enu():
    scene = trimesh.Scene()
    scene.add_geometry(unit_box(), geom_name="box", node_name="n0")
    for i in range(1, 5):
        scene.graph.update(
            frame_to=f"n{i}",
            frame_from=scene.graph.base_frame,
            geometry="box",
            matrix=trimesh.transformations.translation_matrix([10 * i, 2 * i, -3 * i]),
        )

    read = read_asset("trees.glb", scene.export(file_type="glb"))

    assert len(read.parts) == 1
    assert [p.part for p in read.placements] == [0] * 5
    translations = sorted(tuple(p.matrix[:3, 3].tolist()) for p in read.placements)
    # y-up (x, y, z) → ENU (x, -z, y)
    assert translations == [(10.0 * i, 3.0 * i, 2.0 * i) for i in range(5)]
    assert read.triangle_count == 60


def test_meshes_that_repeat_the_same_primitive_share_one_part():
    scene = trimesh.Scene()
    for i in range(3):  # trimesh exports these as 3 meshes over the same accessors
        scene.add_geometry(unit_box(), geom_name="box", node_name=f"n{i}")

    read = read_asset("copies.glb", scene.export(file_type="glb"))

    assert len(read.parts) == 1
    assert len(read.placements) == 3


def test_placements_map_points_exactly_like_the_gltf_node_hierarchy():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    # a parent 10 m up, turned 90° about up, its child 1 m along the parent's +x
    turn = [0.0, np.sin(np.pi / 4), 0.0, np.cos(np.pi / 4)]
    document["nodes"] = [
        {"translation": [0, 10, 0], "rotation": turn, "children": [1]},
        {"translation": [1, 0, 0], "mesh": 0, "scale": [2, 2, 2]},
    ]

    placement = read_gltf(document).placements[0]

    # glTF vertex (1, 0, 0): scaled and moved by the child to (3, 0, 0), turned about +y to
    # (0, 0, -3), lifted to (0, 10, -3); in ENU the part's (1, 0, 0) must land at (0, 3, 10)
    assert (placement.matrix @ [1, 0, 0, 1]).tolist() == pytest.approx([0, 3, 10, 1])
    # glTF (0, 1, 0) = ENU up: (1, 2, 0) → (0, 2, -1) → (0, 12, -1) = ENU (0, 1, 12)
    assert (placement.matrix @ [0, 0, 1, 1]).tolist() == pytest.approx([0, 1, 12, 1])


def test_a_multi_primitive_mesh_on_two_nodes_gives_two_parts_with_two_placements_each():
    document = gltf_document(TRIANGLE, [0, 1, 2], material={"name": "a"})
    document["materials"].append({"name": "b"})
    primitive = document["meshes"][0]["primitives"][0]
    document["meshes"][0]["primitives"].append({**primitive, "material": 1})
    document["nodes"] = [{"mesh": 0}, {"mesh": 0, "translation": [5, 0, 0]}]
    document["scenes"] = [{"nodes": [0, 1]}]

    read = read_gltf(document)

    assert sorted(p.material_name for p in read.parts) == ["a", "b"]
    assert sorted(p.part for p in read.placements) == [0, 0, 1, 1]
    assert sorted(p.matrix[0, 3] for p in read.placements) == [0, 0, 5, 5]


def test_points_and_lines_are_skipped_and_counted():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    primitive = document["meshes"][0]["primitives"][0]
    document["meshes"][0]["primitives"].append({"attributes": primitive["attributes"], "mode": 0})

    read, report = read_asset_with_report("p.gltf", json.dumps(document).encode())

    assert len(read.parts) == 1
    assert report.skipped_geometries == 1


def test_triangle_fans_which_trimesh_skips_are_reported_not_dropped_silently():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    primitive = document["meshes"][0]["primitives"][0]
    document["meshes"][0]["primitives"].append({**primitive, "mode": 6})

    _, report = read_asset_with_report("fan.gltf", json.dumps(document).encode())

    assert report.skipped_geometries == 1
    assert any("primitives[1]" in warning for warning in report.warnings)


def test_a_mesh_no_node_places_is_left_out_with_a_warning():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["meshes"].append(document["meshes"][0])

    scene, report = read_asset_with_report("spare.gltf", json.dumps(document).encode())

    assert len(scene.parts) == 1
    assert [p.part for p in scene.placements] == [0]
    assert any("no node" in warning for warning in report.warnings)


def test_a_gltf_whose_meshes_no_node_places_is_empty():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["scenes"] = [{"nodes": []}]

    with pytest.raises(MeshError) as caught:
        read_gltf(document)

    assert caught.value.code == "empty"
    assert "no node" in caught.value.message


def _both_ways(document: dict[str, Any]) -> tuple[SourceScene, SourceScene]:
    """The document read directly and through trimesh (the Draco path), same notes."""
    from assets_pipeline.readers.common import _Notes
    from assets_pipeline.readers.gltf import (
        _GltfMaterials,
        _read_direct,
        _read_through_trimesh,
    )
    from assets_pipeline.readers.gltf_preflight import _parse_gltf_json, _preflight

    scenes = []
    for read in (_read_direct, _read_through_trimesh):
        gltf = _parse_gltf_json("both.gltf", json.dumps(document).encode())
        _preflight(gltf, InputLimits())
        notes = _Notes()
        materials = _GltfMaterials(gltf, notes)
        if read is _read_direct:
            parts, placements = _read_direct(gltf, materials, notes)
        else:
            parts, placements = _read_through_trimesh(gltf, InputLimits(), materials, notes)
        scenes.append(SourceScene(parts=parts, placements=placements))
    return scenes[0], scenes[1]


def test_the_direct_reader_agrees_with_trimesh_on_hierarchy_primitives_and_copies():
    box = unit_box()
    document = gltf_document(
        box.vertices,
        box.faces,
        attributes={"NORMAL": np.asarray(box.vertex_normals, dtype=np.float32)},
        material={"name": "a"},
    )
    document["materials"].append({"name": "b"})
    primitive = document["meshes"][0]["primitives"][0]
    document["meshes"][0]["primitives"].append({**primitive, "material": 1})
    document["meshes"].append({"name": "copy", "primitives": [dict(primitive)]})
    turn = [0.0, np.sin(np.pi / 8), 0.0, np.cos(np.pi / 8)]
    document["nodes"] = [
        {"translation": [0, 10, 0], "rotation": turn, "children": [1, 2]},
        {"translation": [1, 0, 0], "mesh": 0, "scale": [2, 2, 2]},
        {"matrix": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, -1, 0, 4, 5, 6, 1], "mesh": 1},
        {"mesh": 1, "scale": [1, 3, 1]},
    ]
    document["scenes"] = [{"nodes": [0, 3]}]

    direct, through_trimesh = _both_ways(document)

    assert len(direct.parts) == len(through_trimesh.parts) == 2  # the copy is an instance
    for ours, theirs in zip(direct.parts, through_trimesh.parts, strict=True):
        assert ours.material_name == theirs.material_name
        assert np.array_equal(ours.positions_m, theirs.positions_m)
        assert np.array_equal(ours.indices, theirs.indices)
        assert ours.normals is not None
        assert theirs.normals is not None
        assert np.allclose(ours.normals, theirs.normals)
    assert [p.part for p in direct.placements] == [p.part for p in through_trimesh.placements]
    for ours_at, theirs_at in zip(direct.placements, through_trimesh.placements, strict=True):
        assert np.allclose(ours_at.matrix, theirs_at.matrix, atol=1e-12)


def test_a_triangle_strip_keeps_its_winding_on_every_triangle():
    # a strip of two triangles over a unit square in the xz plane, both facing +y (up)
    square = [[0, 0, 0], [0, 0, -1], [1, 0, 0], [1, 0, -1]]
    document = gltf_document(square, [0, 2, 1, 3])
    document["meshes"][0]["primitives"][0]["mode"] = 5

    part = read_gltf(document).parts[0]

    corners = part.positions_m[part.indices.astype(np.int64)]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert len(part.indices) == 2
    assert (normals[:, 2] > 0).all()  # ENU up: both front faces look up


def test_interleaved_vertex_data_is_read_through_its_stride():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    blob = np.zeros((3, 6), dtype=np.float32)  # position then normal per vertex, 24 B stride
    blob[:, :3] = np.asarray(TRIANGLE, dtype=np.float32) * 2
    blob[:, 3:] = [0, 0, 1]
    indices = np.array([0, 1, 2], dtype=np.uint16)
    data = blob.tobytes() + indices.tobytes()
    uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    document["buffers"] = [{"byteLength": len(data), "uri": uri}]
    document["bufferViews"] = [
        {"buffer": 0, "byteOffset": 0, "byteLength": blob.nbytes, "byteStride": 24},
        {"buffer": 0, "byteOffset": blob.nbytes, "byteLength": indices.nbytes},
    ]
    document["accessors"] = [
        {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3"},
        {"bufferView": 0, "byteOffset": 12, "componentType": 5126, "count": 3, "type": "VEC3"},
        {"bufferView": 1, "componentType": 5123, "count": 3, "type": "SCALAR"},
    ]
    document["meshes"][0]["primitives"][0] = {
        "attributes": {"POSITION": 0, "NORMAL": 1},
        "indices": 2,
    }

    part = read_gltf(document).parts[0]

    assert as_enu(np.asarray(TRIANGLE, dtype=np.float64) * 2) == positions(read_gltf(document))
    assert part.normals is not None
    assert part.normals.tolist() == [[0.0, -1.0, 0.0]] * 3  # glTF +z is ENU south


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["nodes"][0].update(translation=[1, "up", 0]), "translation"),
        (lambda d: d["nodes"][0].update(rotation=[0, 0, 1]), "rotation"),
        (lambda d: d["nodes"][0].update(matrix=[1.0] * 15), "matrix"),
        (  # each scale is finite, their product is not
            lambda d: d.update(
                nodes=[{"scale": [1e308] * 3, "children": [1]}, {"mesh": 0, "scale": [1e10] * 3}]
            ),
            "non-finite",
        ),
        (lambda d: d["accessors"][1].update(count=2), "multiple of 3"),
        (lambda d: d["accessors"][1].update(componentType=5126), "unsigned integer"),
    ],
)
def test_bad_node_transforms_and_index_accessors_name_the_problem(change: Any, reason: str):
    document = gltf_document(TRIANGLE, [0, 1, 2])
    change(document)

    error = error_of("odd.gltf", json.dumps(document).encode())

    assert error.code == "bad_input"
    assert reason in error.message
    assert "odd.gltf" in error.message


# ------------------------------------------------------------------ hostile glTF


@pytest.mark.parametrize(
    "uri",
    ["../secret.bin", "file:///etc/passwd", "http://example.com/a.bin", "https://x.org/a.bin"],
)
def test_a_buffer_outside_the_file_is_refused_before_anything_reads_it(uri: str):
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["buffers"][0]["uri"] = uri

    with recording_opens() as opened:
        error = error_of("evil.gltf", json.dumps(document).encode())

    assert error.code == "external_uri"
    assert uri in error.message
    assert "evil.gltf" in error.message
    assert opened == []


def test_an_image_outside_the_file_is_refused():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["images"] = [{"uri": "/etc/passwd"}]

    with recording_opens() as opened:
        error = error_of("evil.gltf", json.dumps(document).encode())

    assert error.code == "external_uri"
    assert "/etc/passwd" in error.message
    assert not any("passwd" in path for path in opened)


def test_read_path_never_opens_a_buffer_file_next_to_a_gltf(tmp_path: Path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 36)
    folder = tmp_path / "asset"
    folder.mkdir()
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["buffers"][0]["uri"] = "../secret.bin"
    (folder / "evil.gltf").write_text(json.dumps(document))

    with recording_opens() as opened, pytest.raises(MeshError) as caught:
        read_path(folder / "evil.gltf")

    assert caught.value.code == "external_uri"
    assert not was_opened(secret, opened)


def test_an_absolute_path_buffer_naming_a_real_file_is_never_opened(tmp_path: Path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 64)
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["buffers"][0]["uri"] = str(secret)

    with recording_opens() as opened:
        assert error_of("evil.gltf", json.dumps(document).encode()).code == "external_uri"
    assert not was_opened(secret, opened)


@pytest.mark.parametrize(
    "extension", ["EXT_meshopt_compression", "KHR_mesh_quantization", "KHR_texture_basisu"]
)
def test_required_extensions_we_cannot_read_are_refused(extension: str):
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["extensionsUsed"] = document["extensionsRequired"] = [extension]

    error = error_of("x.gltf", json.dumps(document).encode())

    assert error.code == "unsupported_extension"
    assert extension in error.message


@pytest.mark.parametrize("cut", [1, 3, 11, 19, 40, 0.5, -1])
def test_a_truncated_glb_is_refused_as_truncated_with_its_name(cut: float):
    glb = trimesh.Scene(unit_box()).export(file_type="glb")
    end = int(len(glb) * cut) if isinstance(cut, float) else cut % len(glb)

    error = error_of("cut.glb", glb[:end])

    assert error.code == "truncated"
    assert "cut.glb" in error.message


@pytest.mark.parametrize("name", ["x.glb", "x.gltf", "x.obj", "x.ply", "x.stl"])
def test_random_garbage_is_a_mesh_error_in_every_format(name: str):
    garbage = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()

    error = error_of(name, garbage)

    assert error.code in {"bad_input", "empty"}
    assert name in error.message


def test_an_index_past_the_vertices_is_a_mesh_error():
    error = error_of("bad.gltf", json.dumps(gltf_document(TRIANGLE, [0, 1, 3])).encode())

    assert error.code == "bad_input"
    assert "index out of range" in error.message


def test_triangles_touching_nan_vertices_are_dropped_and_counted():
    vertices = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [np.nan, 0, 0], [5, 5, np.inf]]
    document = gltf_document(vertices, [0, 1, 2, 0, 3, 1, 2, 4, 1])

    scene, report = read_asset_with_report("nan.gltf", json.dumps(document).encode())

    assert scene.parts[0].triangle_count == 1
    assert scene.parts[0].vertex_count == 3
    assert (report.non_finite_vertices, report.non_finite_triangles) == (2, 2)


def test_a_mesh_of_only_nan_vertices_is_empty():
    document = gltf_document([[np.nan, 0, 0]] * 3, [0, 1, 2])

    assert error_of("nan.gltf", json.dumps(document).encode()).code == "empty"


def test_a_node_cycle_is_refused_instead_of_hanging_the_scene_graph():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["nodes"] = [{"mesh": 0, "children": [1]}, {"children": [0]}]
    document["scenes"] = [{"nodes": []}]

    assert error_of("loop.gltf", json.dumps(document).encode()).code == "bad_input"


def test_a_sparse_accessor_is_refused_because_trimesh_ignores_sparse_data():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["accessors"][0]["sparse"] = {"count": 1, "indices": {}, "values": {}}

    assert error_of("s.gltf", json.dumps(document).encode()).code == "unsupported_feature"


def test_a_huge_accessor_without_data_is_refused_before_trimesh_allocates_it():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["accessors"].append({"componentType": 5126, "type": "MAT4", "count": 29_000_000})

    assert error_of("bomb.gltf", json.dumps(document).encode()).code == "too_large"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda d: d["bufferViews"][0].update(byteLength=10_000), "bad_input"),
        (lambda d: d["accessors"][0].update(count=1000), "bad_input"),
        (lambda d: d["asset"].update(version="1.0"), "unsupported_format"),
        (lambda d: d["buffers"][0].update(uri="data:,plain"), "bad_input"),
        (lambda d: d["nodes"][0].update(mesh=7), "bad_input"),
        (lambda d: d.update(meshes="nope"), "bad_input"),
        (lambda d: d["accessors"][0].pop("bufferView"), "bad_input"),  # trimesh: zeros
    ],
)
def test_inconsistent_gltf_structure_is_refused_with_a_code(change: Any, code: str):
    document = gltf_document(TRIANGLE, [0, 1, 2])
    change(document)

    assert error_of("odd.gltf", json.dumps(document).encode()).code == code


# ------------------------------------------------------------------ hostile OBJ


def write_obj_asset(folder: Path, mtllib: str, map_kd: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    obj = f"mtllib {mtllib}\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\n"
    obj += "usemtl a\nf 1/1 2/2 3/3\n"
    (folder / "m.obj").write_text(obj)
    (folder / "m.mtl").write_text(f"newmtl a\nKd 1 0 0\nmap_Kd {map_kd}\n")
    return folder / "m.obj"


def test_an_obj_mtllib_outside_the_folder_is_ignored_and_never_opened(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.mtl").write_text("newmtl a\nKd 0 1 0\n")
    path = write_obj_asset(tmp_path / "asset", "../outside/evil.mtl", "wall.png")

    with recording_opens() as opened:
        scene, report = read_path_with_report(path)

    assert scene.parts[0].base_color_rgba == (1.0, 1.0, 1.0, 1.0)  # no material read
    assert any("../outside/evil.mtl" in warning for warning in report.warnings)
    assert not was_opened(outside / "evil.mtl", opened)


def test_an_obj_texture_outside_the_folder_is_ignored_and_never_opened(tmp_path: Path):
    secret = tmp_path / "passwd"
    secret.write_bytes(two_tone_png())
    path = write_obj_asset(tmp_path / "asset", "m.mtl", "../passwd")

    with recording_opens() as opened:
        scene, report = read_path_with_report(path)

    part = scene.parts[0]
    assert part.base_color_rgba == (1.0, 0.0, 0.0, 1.0)  # the MTL in the folder is read
    assert part.base_color_texture is None
    assert any("../passwd" in warning for warning in report.warnings)
    assert not was_opened(secret, opened)
    assert was_opened(path.parent / "m.mtl", opened)


@pytest.mark.parametrize(
    ("mtllib", "map_kd"), [("../../etc/passwd", "wall.png"), ("m.mtl", "../../etc/passwd")]
)
def test_an_obj_pointing_at_etc_passwd_loads_without_reading_it(
    tmp_path: Path, mtllib: str, map_kd: str
):
    path = write_obj_asset(tmp_path / "asset", mtllib, map_kd)

    with recording_opens() as opened:
        scene, report = read_path_with_report(path)

    assert scene.parts[0].base_color_texture is None
    assert any("../../etc/passwd" in warning for warning in report.warnings)
    assert not any(opened_path.endswith("passwd") for opened_path in opened)


def test_a_symlink_leading_out_of_the_folder_is_not_followed(tmp_path: Path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(two_tone_png())
    path = write_obj_asset(tmp_path / "asset", "m.mtl", "wall.png")
    (path.parent / "wall.png").symlink_to(secret)

    with recording_opens() as opened:
        part = read_path(path).parts[0]

    assert part.base_color_texture is None
    assert not was_opened(secret, opened)


def test_an_absolute_texture_path_falls_back_to_the_same_name_inside_the_folder(tmp_path: Path):
    png = two_tone_png()
    path = write_obj_asset(tmp_path / "asset", "m.mtl", "C:\\Users\\me\\maps\\wall.png")
    (path.parent / "wall.png").write_bytes(png)

    part = read_path(path).parts[0]

    assert part.base_color_texture is not None
    assert part.base_color_texture.data == png


def test_in_memory_sidecars_with_traversal_names_are_never_served():
    obj = b"mtllib ../m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl a\nf 1 2 3\n"

    scene, report = read_asset_with_report(
        "m.obj", obj, sidecars={"../m.mtl": b"newmtl a\nKd 0 1 0\n"}
    )

    assert scene.parts[0].base_color_rgba == (1.0, 1.0, 1.0, 1.0)
    assert report.warnings


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("wall.png", "wall.png"),
        ("./textures//wall.png", "textures/wall.png"),
        ("textures\\wall.png", "textures/wall.png"),
        ("../wall.png", None),
        ("textures/../../wall.png", None),
        ("/etc/passwd", None),
        ("\\\\server\\share\\wall.png", None),
        ("C:\\maps\\wall.png", None),
        ("c:wall.png", None),
        ("file:///etc/passwd", None),
        ("http://example.com/wall.png", None),
        ("", None),
    ],
)
def test_safe_reference_keeps_relative_names_and_refuses_everything_that_escapes(
    reference: str, expected: str | None
):
    assert safe_reference(reference) == expected


# ------------------------------------------------------------------ limits and dispatch


def test_a_file_over_the_byte_limit_is_refused_before_parsing():
    name, data, _ = export(unit_box(), "glb")

    error = error_of(name, data, limits=InputLimits(max_bytes=len(data) - 1))

    assert error.code == "too_large"


def test_read_path_refuses_a_large_file_without_reading_it(tmp_path: Path):
    path = tmp_path / "big.stl"
    path.write_bytes(b"\0" * 2048)

    with recording_opens() as opened, pytest.raises(MeshError) as caught:
        read_path(path, limits=InputLimits(max_bytes=1024))

    assert caught.value.code == "too_large"
    assert not was_opened(path, opened)


def test_sidecars_count_towards_the_byte_limit(tmp_path: Path):
    path = write_obj_asset(tmp_path / "asset", "m.mtl", "wall.png")
    (path.parent / "wall.png").write_bytes(b"\0" * 4096)

    with pytest.raises(MeshError) as caught:
        read_path(path, limits=InputLimits(max_bytes=1024))

    assert caught.value.code == "too_large"
    assert "wall.png" in caught.value.message


@pytest.mark.parametrize("file_type", ["glb", "obj", "stl"])
def test_too_many_triangles_or_vertices_are_refused(file_type: str):
    name, data, sidecars = export(unit_box(), file_type)

    for limits in (InputLimits(max_triangles=11), InputLimits(max_vertices=7)):
        assert error_of(name, data, sidecars=sidecars, limits=limits).code == "too_large"


def test_too_many_nodes_are_refused():
    document = gltf_document(TRIANGLE, [0, 1, 2])
    document["nodes"] = [{"mesh": 0}] * 20
    document["scenes"] = [{"nodes": list(range(20))}]

    error = error_of("n.gltf", json.dumps(document).encode(), limits=InputLimits(max_placements=10))

    assert error.code == "too_large"


@pytest.mark.parametrize("name", ["model.fbx", "model", "model.glb.zip", "archive.dae"])
def test_unsupported_file_types_are_refused(name: str):
    assert error_of(name, b"whatever").code == "unsupported_format"


def test_read_path_refuses_an_unsupported_type_without_opening_it(tmp_path: Path):
    path = tmp_path / "model.fbx"
    path.write_bytes(b"Kaydara FBX Binary")

    with recording_opens() as opened, pytest.raises(MeshError) as caught:
        read_path(path)

    assert caught.value.code == "unsupported_format"
    assert opened == []


def test_an_empty_file_is_empty():
    assert error_of("nothing.glb", b"").code == "empty"


def test_read_path_reads_a_glb_like_read_asset(tmp_path: Path):
    name, data, _ = export(unit_box(), "glb")
    (tmp_path / name).write_bytes(data)

    assert positions(read_path(tmp_path / name)) == positions(read_asset(name, data))


def test_a_missing_file_is_a_mesh_error(tmp_path: Path):
    with pytest.raises(MeshError) as caught:
        read_path(tmp_path / "gone.glb")

    assert caught.value.code == "bad_input"
    assert "gone.glb" in caught.value.message
