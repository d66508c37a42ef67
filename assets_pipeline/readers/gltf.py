"""glTF and GLB: materials, textures, TEXCOORD and COLOR_0 from the JSON and buffers;
geometry and nodes straight from the accessors (``gltf_direct.py``), or through trimesh
when a primitive is Draco-compressed.

trimesh (5.2) behaviour the Draco path relies on or works around:

* trimesh names glTF geometry per primitive and drops the link to the JSON. Before
  loading we tag every glTF mesh's ``extras`` with its index; trimesh copies ``extras``
  into ``geometry.metadata``, and the primitives of a mesh stay in order, which maps
  each geometry back to its primitive.
* Materials, textures, TEXCOORD and COLOR_0 of glTF are read from the JSON and buffers
  here, not from trimesh: trimesh stores ``baseColorFactor`` as uint8 (lossy), ignores
  accessor ``normalized`` (uint8/uint16 UVs come out as raw integers), wraps uint16
  colours through ``astype(uint8)``, ignores KHR_texture_transform, and only ever
  reads TEXCOORD_0. Draco-compressed primitives are the exception: their attributes
  exist only in trimesh's decoded arrays, so UVs (TEXCOORD_0) and colours come from it.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np
import trimesh
from numpy.typing import NDArray

from assets_pipeline.glb import (
    CHUNK_BIN,
    CHUNK_JSON,
    GLB_MAGIC,
    GLB_VERSION,
)
from assets_pipeline.mesh import MeshError, MeshPart, Placement, Texture
from assets_pipeline.readers.common import (
    InputLimits,
    _check_geometry_counts,
    _enu_placements,
    _file_normals,
    _load_trimesh,
    _make_part,
    _Material,
    _normalized,
    _Notes,
    _placed_meshes,
    _placements,
    _rgba8,
    _texture,
    _trimesh_colors,
    _trimesh_uvs,
    _unit,
)
from assets_pipeline.readers.gltf_direct import mesh_worlds, primitive_triangles, read_accessor
from assets_pipeline.readers.gltf_preflight import (
    _DRACO,
    _TRIANGLE_STRIP,
    _TRIANGLES,
    _TRIMESH_MODES,
    _data_uri,
    _Gltf,
    _index,
    _parse_glb,
    _parse_gltf_json,
    _preflight,
)
from assets_pipeline.readers.sidecars import _Resolver

_MESH_TAG = "__twinland_mesh_index"


def _read_gltf(
    name: str, data: bytes, binary: bool, limits: InputLimits, notes: _Notes
) -> tuple[list[MeshPart], list[Placement]]:
    gltf = _parse_glb(name, data) if binary else _parse_gltf_json(name, data)
    _preflight(gltf, limits)
    for m, mesh in enumerate(gltf.items("meshes")):
        for p, primitive in enumerate(mesh["primitives"]):
            mode = primitive.get("mode", _TRIANGLES)
            if mode not in (_TRIANGLES, _TRIANGLE_STRIP):
                notes.skipped_geometries += 1
            if mode not in _TRIMESH_MODES:
                notes.warnings.append(
                    f"meshes[{m}].primitives[{p}]: triangle fans, line loops and line strips "
                    "are not read"
                )
    materials = _GltfMaterials(gltf, notes)
    if any(
        _DRACO in (primitive.get("extensions") or {})
        for mesh in gltf.items("meshes")
        for primitive in mesh["primitives"]
    ):
        return _read_through_trimesh(gltf, limits, materials, notes)
    return _read_direct(gltf, materials, notes)


def _primitive_key(primitive: dict[str, Any]) -> str:
    """Primitives with equal keys are the same geometry and material (trimesh's own
    exporter writes copies of a mesh that way): they share one part, as instances."""
    return json.dumps(
        [
            primitive.get("mode", _TRIANGLES),
            primitive.get("attributes"),
            primitive.get("indices"),
            primitive.get("material"),
            primitive.get("extensions"),
        ],
        sort_keys=True,
    )


def _read_direct(
    gltf: _Gltf, materials: _GltfMaterials, notes: _Notes
) -> tuple[list[MeshPart], list[Placement]]:
    """Parts and placements of a file without Draco, from its accessors and nodes."""
    name = gltf.name
    worlds = mesh_worlds(gltf)
    parts: list[MeshPart] = []
    part_of_key: dict[str, int | None] = {}
    found: list[tuple[int, NDArray[np.float64]]] = []
    placed = unplaced = 0
    for m, mesh in enumerate(gltf.items("meshes")):
        mesh_name = mesh.get("name")
        label = mesh_name if isinstance(mesh_name, str) and mesh_name else f"mesh{m}"
        triangle_primitives = [
            (p, primitive)
            for p, primitive in enumerate(mesh["primitives"])
            if primitive.get("mode", _TRIANGLES) in (_TRIANGLES, _TRIANGLE_STRIP)
        ]
        for p, primitive in triangle_primitives:
            if m not in worlds:
                unplaced += 1
                continue
            placed += 1
            key = _primitive_key(primitive)
            if key not in part_of_key:
                where = f"meshes[{m}].primitives[{p}]"
                vertices, faces, normals = primitive_triangles(gltf, where, primitive)
                part_name = label if len(triangle_primitives) == 1 else f"{label}.{p}"
                part = _gltf_part(
                    gltf, part_name, vertices, faces, normals, primitive, materials, notes
                )
                part_of_key[key] = None if part is None else len(parts)
                if part is not None:
                    parts.append(part)
            index = part_of_key[key]
            if index is not None:
                found.extend((index, world) for world in worlds[m])
    if unplaced and not placed:
        raise MeshError("empty", f"{name}: no node of the scene places a mesh")
    if unplaced:
        notes.warnings.append(f"{unplaced} mesh(es) that no node of the scene places left out")
    return parts, _enu_placements(name, found)


def _read_through_trimesh(
    gltf: _Gltf, limits: InputLimits, materials: _GltfMaterials, notes: _Notes
) -> tuple[list[MeshPart], list[Placement]]:
    """Parts and placements of a file with Draco primitives: trimesh decodes them (and,
    to keep one code path per file, reads its plain primitives and nodes too)."""
    name = gltf.name
    # a GLB without a BIN chunk holds only data: URIs, which trimesh reads as .gltf
    file_type = "glb" if gltf.bin_chunk is not None else "gltf"
    scene = _load_trimesh(name, _for_trimesh(gltf), file_type, _Resolver(name, None, 0))
    _check_geometry_counts(name, scene, limits)
    primitives = _geometry_primitives(gltf, scene)
    parts: list[MeshPart] = []
    part_of: dict[str, int] = {}
    part_of_key: dict[str, int] = {}
    for geometry_name, geometry in _placed_meshes(name, scene, notes, count_skipped=False):
        mesh_index, primitive_index = primitives[geometry_name]
        primitive = gltf.items("meshes")[mesh_index]["primitives"][primitive_index]
        key = _primitive_key(primitive)
        if key in part_of_key:
            part_of[geometry_name] = part_of_key[key]
            continue
        part = _trimesh_part(gltf, geometry_name, geometry, primitive, materials, notes)
        if part is not None:
            part_of[geometry_name] = part_of_key[key] = len(parts)
            parts.append(part)
    return parts, _placements(name, scene, part_of)


def _for_trimesh(gltf: _Gltf) -> bytes:
    """The file as trimesh should read it: every mesh tagged with its index in
    ``extras`` (trimesh copies extras into geometry.metadata)."""
    document = dict(gltf.document)
    meshes = []
    for index, mesh in enumerate(gltf.items("meshes")):
        extras = mesh.get("extras")
        meshes.append(
            {**mesh, "extras": {**(extras if isinstance(extras, dict) else {}), _MESH_TAG: index}}
        )
    document["meshes"] = meshes
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    if gltf.bin_chunk is None:
        return text
    text += b" " * (-len(text) % 4)
    blob = gltf.bin_chunk + b"\0" * (-len(gltf.bin_chunk) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<4sII", GLB_MAGIC, GLB_VERSION, total),
            struct.pack("<II", len(text), CHUNK_JSON),
            text,
            struct.pack("<II", len(blob), CHUNK_BIN),
            blob,
        ]
    )


def _geometry_primitives(gltf: _Gltf, scene: trimesh.Scene) -> dict[str, tuple[int, int]]:
    """trimesh geometry name → (mesh index, primitive index)."""
    by_mesh: dict[int, list[str]] = {}
    for geometry_name, geometry in scene.geometry.items():
        if isinstance(geometry, trimesh.Trimesh):
            tag = geometry.metadata.get(_MESH_TAG)
            if not isinstance(tag, int):
                raise MeshError("bad_input", f"{gltf.name}: cannot match geometry to its mesh")
            by_mesh.setdefault(tag, []).append(str(geometry_name))
    found: dict[str, tuple[int, int]] = {}
    meshes = gltf.items("meshes")
    for mesh_index, names in by_mesh.items():
        triangle_primitives = [
            p
            for p, primitive in enumerate(meshes[mesh_index]["primitives"])
            if primitive.get("mode", _TRIANGLES) in (_TRIANGLES, _TRIANGLE_STRIP)
        ]
        if len(triangle_primitives) != len(names):
            raise MeshError("bad_input", f"{gltf.name}: cannot match geometry to primitives")
        for geometry_name, p in zip(names, triangle_primitives, strict=True):
            found[geometry_name] = (mesh_index, p)
    return found


def _trimesh_part(
    gltf: _Gltf,
    geometry_name: str,
    geometry: trimesh.Trimesh,
    primitive: dict[str, Any],
    materials: _GltfMaterials,
    notes: _Notes,
) -> MeshPart | None:
    """A part from trimesh's geometry of a primitive (Draco-decoded or plain)."""
    vertices = np.asarray(geometry.vertices)
    attributes: dict[str, int] = primitive["attributes"]
    accessors = gltf.items("accessors")
    draco = _DRACO in (primitive.get("extensions") or {})
    if draco and "bufferView" not in accessors[attributes["POSITION"]] and not vertices.any():
        # trimesh leaves zero placeholders (and only logs) when Draco fails to decode
        raise MeshError("bad_input", f"{gltf.name}: {geometry_name}: Draco data did not decode")
    if not draco and len(vertices) != accessors[attributes["POSITION"]]["count"]:
        raise MeshError(
            "bad_input", f"{gltf.name}: {geometry_name}: geometry does not match its mesh"
        )
    normals = _file_normals(geometry) if "NORMAL" in attributes else None
    return _gltf_part(
        gltf,
        geometry_name,
        vertices,
        np.asarray(geometry.faces),
        normals,
        primitive,
        materials,
        notes,
        decoded=geometry if draco else None,
    )


def _gltf_part(
    gltf: _Gltf,
    part_name: str,
    vertices: NDArray[Any],
    faces: NDArray[Any],
    normals: NDArray[Any] | None,
    primitive: dict[str, Any],
    materials: _GltfMaterials,
    notes: _Notes,
    decoded: trimesh.Trimesh | None = None,
) -> MeshPart | None:
    """A part from a primitive's geometry (file frame) with its material, UVs and
    colours read from the file, or from trimesh's ``decoded`` arrays for Draco."""
    attributes: dict[str, int] = primitive["attributes"]
    material, tex_coord, transform = materials.get(primitive.get("material"))
    uvs: NDArray[np.float64] | None
    colors: NDArray[np.uint8] | None
    if decoded is not None:
        # Draco attributes exist only in trimesh's decoded arrays (TEXCOORD_0 only).
        uvs = _trimesh_uvs(decoded) if tex_coord == 0 else None
        colors = _trimesh_colors(decoded)
    else:
        uvs = _gltf_uvs(gltf, attributes.get(f"TEXCOORD_{tex_coord}"), len(vertices))
        colors = _gltf_colors(gltf, attributes.get("COLOR_0"), len(vertices))
    if uvs is not None and transform is not None:
        uvs = _texture_transform(uvs, transform)
    if material.texture is not None and uvs is None:
        notes.warnings.append(
            f"{part_name}: texture left out, TEXCOORD_{tex_coord} is not available"
        )
    return _make_part(
        gltf.name,
        part_name,
        vertices=vertices,
        faces=faces,
        normals=normals,
        uvs=uvs,
        colors=colors,
        material=material,
        notes=notes,
    )


def _gltf_uvs(gltf: _Gltf, accessor: int | None, count: int) -> NDArray[np.float64] | None:
    if accessor is None:
        return None
    values = read_accessor(gltf, accessor)
    if values is None or values.shape != (count, 2):
        raise MeshError("bad_input", f"{gltf.name}: texture coordinates do not fit the mesh")
    if values.dtype not in (np.float32, np.uint8, np.uint16):
        raise MeshError("bad_input", f"{gltf.name}: texture coordinates are {values.dtype}")
    return _normalized(values)  # already glTF convention: read from the file, not trimesh


def _gltf_colors(gltf: _Gltf, accessor: int | None, count: int) -> NDArray[np.uint8] | None:
    if accessor is None:
        return None
    values = read_accessor(gltf, accessor)
    if values is None or values.shape[0] != count or values.shape[1] not in (3, 4):
        raise MeshError("bad_input", f"{gltf.name}: COLOR_0 does not fit the mesh")
    if values.dtype not in (np.float32, np.uint8, np.uint16):
        raise MeshError("bad_input", f"{gltf.name}: COLOR_0 is {values.dtype}")
    return _rgba8(_normalized(values))


def _texture_transform(uvs: NDArray[np.float64], transform: dict[str, Any]) -> NDArray[np.float64]:
    """Bake KHR_texture_transform into the UVs: uv' = T · R · S · uv."""
    offset = np.asarray(transform.get("offset", [0.0, 0.0]), dtype=np.float64).reshape(2)
    scale = np.asarray(transform.get("scale", [1.0, 1.0]), dtype=np.float64).reshape(2)
    rotation = float(transform.get("rotation", 0.0))
    cos, sin = math.cos(rotation), math.sin(rotation)
    u, v = uvs[:, 0] * scale[0], uvs[:, 1] * scale[1]
    return np.column_stack((cos * u + sin * v + offset[0], -sin * u + cos * v + offset[1]))


class _GltfMaterials:
    """glTF materials read from the JSON, with textures from the original image bytes."""

    def __init__(self, gltf: _Gltf, notes: _Notes) -> None:
        self._gltf = gltf
        self._notes = notes
        self._materials: dict[int | None, tuple[_Material, int, dict[str, Any] | None]] = {}
        self._images: dict[int, Texture | None] = {}

    def get(self, index: int | None) -> tuple[_Material, int, dict[str, Any] | None]:
        """(material, TEXCOORD set of its base colour texture, KHR_texture_transform)."""
        if index not in self._materials:
            self._materials[index] = self._read(index)
        return self._materials[index]

    def _read(self, index: int | None) -> tuple[_Material, int, dict[str, Any] | None]:
        if index is None:
            # the spec's default material: no properties, so metallic = roughness = 1
            return _Material(roughness=1.0, metallic=1.0), 0, None
        gltf = self._gltf
        material = gltf.items("materials")[index]
        if not isinstance(material, dict):
            raise MeshError("bad_input", f"{gltf.name}: materials[{index}] is not an object")
        extensions = material.get("extensions") or {}
        spec_gloss = extensions.get("KHR_materials_pbrSpecularGlossiness")
        pbr = material.get("pbrMetallicRoughness") or {}
        if isinstance(spec_gloss, dict) and "pbrMetallicRoughness" not in material:
            # approximation: diffuse as base colour, a dielectric, roughness = 1 - gloss
            factor = spec_gloss.get("diffuseFactor", [1.0, 1.0, 1.0, 1.0])
            texture_info = spec_gloss.get("diffuseTexture")
            roughness = 1.0 - _unit(spec_gloss.get("glossinessFactor"), 1.0)
            metallic = 0.0
        else:
            factor = pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0])
            texture_info = pbr.get("baseColorTexture")
            roughness = _unit(pbr.get("roughnessFactor"), 1.0)
            metallic = _unit(pbr.get("metallicFactor"), 1.0)
        if not isinstance(factor, list) or len(factor) != 4:
            factor = [1.0, 1.0, 1.0, 1.0]
        rgba = (
            _unit(factor[0], 1.0),
            _unit(factor[1], 1.0),
            _unit(factor[2], 1.0),
            _unit(factor[3], 1.0),
        )
        texture, tex_coord, transform = self._texture_info(texture_info)
        name = material.get("name")
        return (
            _Material(
                name=name if isinstance(name, str) else f"material{index}",
                base_color_rgba=rgba,
                roughness=roughness,
                metallic=metallic,
                texture=texture,
                double_sided=material.get("doubleSided") is True,
            ),
            tex_coord,
            transform,
        )

    def _texture_info(self, info: object) -> tuple[Texture | None, int, dict[str, Any] | None]:
        if not isinstance(info, dict) or "index" not in info:
            return None, 0, None
        gltf = self._gltf
        textures = gltf.items("textures")
        texture = textures[_index(gltf.name, info["index"], len(textures), "texture index")]
        tex_coord = info.get("texCoord", 0)
        transform = (info.get("extensions") or {}).get("KHR_texture_transform")
        if isinstance(transform, dict):
            tex_coord = transform.get("texCoord", tex_coord)
        else:
            transform = None
        if not isinstance(tex_coord, int) or isinstance(tex_coord, bool) or tex_coord < 0:
            tex_coord = 0
        # prefer the core source (PNG/JPEG); EXT_texture_webp's source otherwise
        source = texture.get("source") if isinstance(texture, dict) else None
        if source is None and isinstance(texture, dict):
            webp = (texture.get("extensions") or {}).get("EXT_texture_webp") or {}
            source = webp.get("source")
        if source is None:
            self._notes.warnings.append(f"texture {info['index']} has no image we can read")
            return None, tex_coord, transform
        images = gltf.items("images")
        image_index = _index(gltf.name, source, len(images), "texture source")
        if image_index not in self._images:
            self._images[image_index] = self._image(image_index)
        return self._images[image_index], tex_coord, transform

    def _image(self, index: int) -> Texture | None:
        gltf = self._gltf
        image = gltf.items("images")[index]
        label = image.get("name") if isinstance(image.get("name"), str) else f"image{index}"
        if "bufferView" in image:
            views = gltf.items("bufferViews")
            view = views[_index(gltf.name, image["bufferView"], len(views), "image bufferView")]
            start = view.get("byteOffset", 0)
            data = gltf.buffers[view["buffer"]][start : start + view["byteLength"]]
        elif "uri" in image:
            _, data = _data_uri(gltf.name, image["uri"], f"images[{index}]")
        else:
            self._notes.warnings.append(f"images[{index}] holds no data")
            return None
        return _texture(label, data, None, self._notes)
