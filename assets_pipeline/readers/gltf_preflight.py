"""A glTF document (GLB or JSON) parsed and checked before trimesh sees it: version,
URIs, extensions, buffer and accessor bounds, node hierarchy and sizes."""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from assets_pipeline.glb import (
    CHUNK_BIN,
    CHUNK_JSON,
    COMPONENT_DTYPES,
    GLB_MAGIC,
    GLB_VERSION,
    TYPE_WIDTHS,
    read_glb,
)
from assets_pipeline.mesh import MeshError
from assets_pipeline.readers.common import InputLimits, _check_counts, _describe

# Required glTF extensions we can honour (everything else is refused). Unlit and
# specular-glossiness degrade to a metallic-roughness material; texture transforms are
# baked into the UVs; Draco is decoded by trimesh when DracoPy is importable.
_READABLE_EXTENSIONS = frozenset(
    {
        "KHR_materials_pbrSpecularGlossiness",
        "KHR_materials_unlit",
        "KHR_texture_transform",
        "EXT_texture_webp",
    }
)
_DRACO = "KHR_draco_mesh_compression"
_POINTS, _LINES, _TRIANGLES, _TRIANGLE_STRIP = 0, 1, 4, 5
_TRIMESH_MODES = (_POINTS, _LINES, _TRIANGLES, _TRIANGLE_STRIP)  # it skips the others


@dataclass
class _Gltf:
    """A glTF document that passed the pre-flight checks, with its buffers."""

    name: str
    document: dict[str, Any]
    buffers: list[bytes]
    bin_chunk: bytes | None  # GLB only

    def items(self, key: str) -> list[Any]:
        value = self.document.get(key, [])
        if not isinstance(value, list):
            raise MeshError("bad_input", f"{self.name}: {key!r} is not a list")
        return value


def _parse_glb(name: str, data: bytes) -> _Gltf:
    """Validate the GLB container (header, chunk sizes) and split it."""
    if len(data) < 12:
        if GLB_MAGIC.startswith(data[:4]):
            raise MeshError("truncated", f"{name}: truncated GLB ({len(data)} bytes)")
        raise MeshError("bad_input", f"{name}: not a GLB file (bad magic)")
    if data[:4] != GLB_MAGIC:
        raise MeshError("bad_input", f"{name}: not a GLB file (bad magic)")
    _, version, total = struct.unpack_from("<4sII", data, 0)
    if version != GLB_VERSION:
        raise MeshError("unsupported_format", f"{name}: GLB version {version}, only 2 is read")
    if total > len(data):
        raise MeshError(
            "truncated", f"{name}: truncated GLB: header says {total:,} bytes, got {len(data):,}"
        )
    if total < len(data):
        raise MeshError(
            "bad_input", f"{name}: GLB header says {total:,} bytes but the file has {len(data):,}"
        )
    if total < 20:
        raise MeshError("bad_input", f"{name}: GLB has no JSON chunk")
    json_length, json_kind = struct.unpack_from("<II", data, 12)
    if json_kind != CHUNK_JSON:
        raise MeshError("bad_input", f"{name}: GLB does not start with a JSON chunk")
    offset = 20 + json_length
    if offset > total:
        raise MeshError("bad_input", f"{name}: GLB JSON chunk runs past the end of the file")
    bin_chunk: bytes | None = None
    while offset < total:  # chunks after JSON: at most one BIN, unknown ones are skipped
        if offset + 8 > total:
            raise MeshError("bad_input", f"{name}: GLB chunk header cut short")
        length, kind = struct.unpack_from("<II", data, offset)
        if offset + 8 + length > total:
            raise MeshError("bad_input", f"{name}: GLB chunk runs past the end of the file")
        if kind == CHUNK_BIN and bin_chunk is None:
            bin_chunk = data[offset + 8 : offset + 8 + length]
        offset += 8 + length
    try:
        document, _ = read_glb(data)
    except MeshError as error:
        raise MeshError("bad_input", f"{name}: {error.message}") from error
    except ValueError as error:  # JSON or UTF-8 errors
        raise MeshError("bad_input", f"{name}: GLB JSON chunk: {_describe(error)}") from error
    if not isinstance(document, dict):
        raise MeshError("bad_input", f"{name}: the glTF JSON is not an object")
    return _Gltf(name, document, [], bin_chunk)


def _parse_gltf_json(name: str, data: bytes) -> _Gltf:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise MeshError("bad_input", f"{name}: not glTF JSON ({_describe(error)})") from error
    if not isinstance(document, dict):
        raise MeshError("bad_input", f"{name}: the glTF JSON is not an object")
    return _Gltf(name, document, [], None)


def _preflight(gltf: _Gltf, limits: InputLimits) -> None:
    """Everything we check before trimesh sees the file: version, URIs, extensions,
    buffer and accessor bounds, node hierarchy and sizes (so trimesh can neither read
    elsewhere nor allocate what the limits forbid)."""
    name, document = gltf.name, gltf.document
    asset = document.get("asset")
    version = asset.get("version") if isinstance(asset, dict) else None
    if not isinstance(version, str) or not version.startswith("2."):
        raise MeshError("unsupported_format", f"{name}: glTF version {version!r}, only 2.x is read")
    _check_uris(gltf)
    _check_extensions(gltf)
    gltf.buffers = _buffers(gltf)
    _check_views_and_accessors(gltf, limits)
    _check_nodes(gltf, limits)
    _check_meshes(gltf, limits)


def _check_uris(gltf: _Gltf) -> None:
    for key in ("buffers", "images"):
        for index, item in enumerate(gltf.items(key)):
            if not isinstance(item, dict):
                raise MeshError("bad_input", f"{gltf.name}: {key}[{index}] is not an object")
            uri = item.get("uri")
            if uri is None:
                continue
            if not isinstance(uri, str) or uri[:5].lower() != "data:":
                shown = repr(uri)[:200]
                raise MeshError(
                    "external_uri",
                    f"{gltf.name}: {key}[{index}].uri {shown} points outside the file; "
                    "only embedded data: URIs are read",
                )


def _check_extensions(gltf: _Gltf) -> None:
    required = gltf.document.get("extensionsRequired", [])
    if not isinstance(required, list):
        raise MeshError("bad_input", f"{gltf.name}: extensionsRequired is not a list")
    readable = set(_READABLE_EXTENSIONS)
    if importlib.util.find_spec("DracoPy") is not None:
        readable.add(_DRACO)
    unreadable = sorted(str(ext) for ext in required if ext not in readable)
    if unreadable:
        raise MeshError(
            "unsupported_extension",
            f"{gltf.name}: requires glTF extensions we cannot read: {', '.join(unreadable)}",
        )


def _data_uri(name: str, uri: str, what: str) -> tuple[str, bytes]:
    """(media type, bytes) of a base64 data: URI."""
    header, _, payload = uri.partition(",")
    if not header.lower().endswith(";base64"):
        raise MeshError("bad_input", f"{name}: {what} has a data: URI that is not base64")
    try:
        decoded = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MeshError("bad_input", f"{name}: {what} has a malformed base64 data: URI") from error
    return header[5:-7].strip().lower(), decoded


def _buffers(gltf: _Gltf) -> list[bytes]:
    buffers: list[bytes] = []
    for index, buffer in enumerate(gltf.items("buffers")):
        length = _count(gltf.name, buffer.get("byteLength"), f"buffers[{index}].byteLength")
        if "uri" in buffer:
            _, data = _data_uri(gltf.name, buffer["uri"], f"buffers[{index}]")
        elif index == 0 and gltf.bin_chunk is not None:
            data = gltf.bin_chunk
        else:
            raise MeshError("bad_input", f"{gltf.name}: buffers[{index}] has no data")
        if len(data) < length:
            raise MeshError(
                "bad_input",
                f"{gltf.name}: buffers[{index}] holds {len(data):,} bytes, declares {length:,}",
            )
        buffers.append(data[:length])
    return buffers


def _count(name: str, value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MeshError("bad_input", f"{name}: {what} must be a non-negative integer")
    return value


def _index(name: str, value: object, size: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < size:
        raise MeshError("bad_input", f"{name}: {what} = {value!r} is out of range (0..{size - 1})")
    return value


def _check_views_and_accessors(gltf: _Gltf, limits: InputLimits) -> None:
    name = gltf.name
    views = gltf.items("bufferViews")
    for index, view in enumerate(views):
        if not isinstance(view, dict):
            raise MeshError("bad_input", f"{name}: bufferViews[{index}] is not an object")
        buffer = _index(name, view.get("buffer"), len(gltf.buffers), f"bufferViews[{index}].buffer")
        start = _count(name, view.get("byteOffset", 0), f"bufferViews[{index}].byteOffset")
        length = _count(name, view.get("byteLength"), f"bufferViews[{index}].byteLength")
        if start + length > len(gltf.buffers[buffer]):
            raise MeshError("bad_input", f"{name}: bufferViews[{index}] runs past its buffer")
        if "byteStride" in view:
            stride = _count(name, view["byteStride"], f"bufferViews[{index}].byteStride")
            if not 4 <= stride <= 252:
                raise MeshError("bad_input", f"{name}: bufferViews[{index}].byteStride {stride}")
    # Accessors without a bufferView are zero-filled by trimesh (Draco fills them later):
    # cap what they allocate at what the limits could ever need.
    max_count = max(limits.max_vertices, 3 * limits.max_triangles)
    budget = 48 * limits.max_vertices + 12 * limits.max_triangles
    for index, accessor in enumerate(gltf.items("accessors")):
        what = f"accessors[{index}]"
        if not isinstance(accessor, dict):
            raise MeshError("bad_input", f"{name}: {what} is not an object")
        component = accessor.get("componentType")
        kind = accessor.get("type")
        if component not in COMPONENT_DTYPES or kind not in TYPE_WIDTHS:
            raise MeshError("bad_input", f"{name}: {what} has an unknown component type or type")
        count = _count(name, accessor.get("count"), f"{what}.count")
        if count > max_count:
            raise MeshError("too_large", f"{name}: {what} holds {count:,} elements")
        element = np.dtype(COMPONENT_DTYPES[component]).itemsize * TYPE_WIDTHS[kind]
        offset = _count(name, accessor.get("byteOffset", 0), f"{what}.byteOffset")
        if "bufferView" not in accessor:
            budget -= count * element
            if budget < 0:
                raise MeshError("too_large", f"{name}: accessors without data are too large")
            continue
        view = views[_index(name, accessor["bufferView"], len(views), f"{what}.bufferView")]
        stride = view.get("byteStride", element)
        needed = offset + (stride * (count - 1) + element if count else 0)
        if needed > view.get("byteLength", 0):
            raise MeshError("bad_input", f"{name}: {what} runs past its bufferView")


def _check_nodes(gltf: _Gltf, limits: InputLimits) -> None:
    """The node hierarchy must be a forest: trimesh's graph would loop on a cycle."""
    name = gltf.name
    nodes = gltf.items("nodes")
    if len(nodes) > limits.max_placements:
        raise MeshError(
            "too_large",
            f"{name}: {len(nodes):,} nodes exceed the limit of {limits.max_placements:,}",
        )
    meshes = len(gltf.items("meshes"))
    parent = [-1] * len(nodes)
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise MeshError("bad_input", f"{name}: nodes[{index}] is not an object")
        if "mesh" in node:
            _index(name, node["mesh"], meshes, f"nodes[{index}].mesh")
        children = node.get("children", [])
        if not isinstance(children, list):
            raise MeshError("bad_input", f"{name}: nodes[{index}].children is not a list")
        for child in children:
            child = _index(name, child, len(nodes), f"nodes[{index}].children")
            if parent[child] != -1 or child == index:
                raise MeshError("bad_input", f"{name}: node {child} has more than one parent")
            parent[child] = index
    state = [0] * len(nodes)  # 0 unseen, 1 on the current path, 2 known to reach a root
    for start in range(len(nodes)):
        path = []
        node = start
        while node != -1 and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if node != -1 and state[node] == 1:
            raise MeshError("bad_input", f"{name}: the node hierarchy has a cycle")
        for visited in path:
            state[visited] = 2
    scenes = gltf.items("scenes")
    if "scene" in gltf.document:
        _index(name, gltf.document["scene"], len(scenes), "scene")
    for number, scene in enumerate(scenes):
        roots = scene.get("nodes", []) if isinstance(scene, dict) else None
        if not isinstance(roots, list):
            raise MeshError("bad_input", f"{name}: scenes[{number}].nodes is not a list")
        for root in roots:
            if parent[_index(name, root, len(nodes), f"scenes[{number}].nodes")] != -1:
                raise MeshError("bad_input", f"{name}: scene root {root} is a child node")


def _check_meshes(gltf: _Gltf, limits: InputLimits) -> None:
    """Refuse what trimesh would read wrongly, and count before decoding anything."""
    name = gltf.name
    accessors = gltf.items("accessors")
    materials = len(gltf.items("materials"))
    vertices = triangles = 0
    seen: set[str] = set()
    for m, mesh in enumerate(gltf.items("meshes")):
        primitives = mesh.get("primitives") if isinstance(mesh, dict) else None
        if not isinstance(primitives, list):
            raise MeshError("bad_input", f"{name}: meshes[{m}].primitives is not a list")
        for p, primitive in enumerate(primitives):
            what = f"meshes[{m}].primitives[{p}]"
            attributes = primitive.get("attributes") if isinstance(primitive, dict) else None
            if not isinstance(attributes, dict) or "POSITION" not in attributes:
                raise MeshError("bad_input", f"{name}: {what} has no POSITION")
            used = [*attributes.values()]
            if "indices" in primitive:
                used.append(primitive["indices"])
            for accessor in used:
                _index(name, accessor, len(accessors), f"{what} accessor")
                if "sparse" in accessors[accessor]:
                    raise MeshError("unsupported_feature", f"{name}: {what} uses a sparse accessor")
            if "material" in primitive:
                _index(name, primitive["material"], materials, f"{what}.material")
            extensions = primitive.get("extensions")
            if not (isinstance(extensions, dict) and _DRACO in extensions):
                # trimesh zero-fills an accessor without data (it only logs): a mesh of
                # zeros would pass every later check
                for accessor in (attributes["POSITION"], primitive.get("indices")):
                    if accessor is not None and "bufferView" not in accessors[accessor]:
                        raise MeshError("bad_input", f"{name}: {what} has an accessor without data")
            mode = primitive.get("mode", _TRIANGLES)
            key = json.dumps([mode, attributes, primitive.get("indices")], sort_keys=True)
            if mode not in (_TRIANGLES, _TRIANGLE_STRIP) or key in seen:
                continue
            seen.add(key)
            position = accessors[attributes["POSITION"]]
            if position.get("componentType") != 5126 or position.get("type") != "VEC3":
                raise MeshError("bad_input", f"{name}: {what} POSITION is not float VEC3")
            count = position["count"]
            if "indices" in primitive:
                count = accessors[primitive["indices"]]["count"]
            vertices += position["count"]
            triangles += count // 3 if mode == _TRIANGLES else max(count - 2, 0)
    _check_counts(name, triangles, vertices, limits)
