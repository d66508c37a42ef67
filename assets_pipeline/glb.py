"""Binary glTF 2.0 (GLB) writer and reader for pipeline meshes.

The writer is deterministic (same parts → same bytes), so assets can be content
addressed. Scene ENU metres become glTF's y-up frame: +x east, +y up, -z north; that
mapping is a proper rotation, so triangle winding is preserved.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assets_pipeline.mesh import MeshError, MeshPart

GLB_MAGIC = b"glTF"
GLB_VERSION = 2
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
BYTE = 5120
SHORT = 5122
FLOAT = 5126
UNSIGNED_BYTE = 5121
UNSIGNED_SHORT = 5123
UNSIGNED_INT = 5125
TRIANGLES = 4
DEFAULT_GENERATOR = "twinland assets_pipeline"
# accessor componentType → numpy type, and accessor type → components per element
COMPONENT_DTYPES: dict[int, type[np.generic]] = {
    BYTE: np.int8,
    UNSIGNED_BYTE: np.uint8,
    SHORT: np.int16,
    UNSIGNED_SHORT: np.uint16,
    UNSIGNED_INT: np.uint32,
    FLOAT: np.float32,
}
TYPE_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


def enu_to_gltf(xyz: NDArray[np.float32]) -> NDArray[np.float32]:
    """(n, 3) ENU (east, north, up) → glTF (x=east, y=up, z=-north)."""
    out = np.empty_like(xyz)
    out[:, 0] = xyz[:, 0]
    out[:, 1] = xyz[:, 2]
    out[:, 2] = -xyz[:, 1]
    return out


class _Builder:
    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(
        self,
        array: NDArray[Any],
        *,
        component: int,
        kind: str,
        target: int,
        normalized: bool = False,
        bounds: bool = False,
    ) -> int:
        data = np.ascontiguousarray(array)
        while len(self.blob) % 4:  # every view starts 4-byte aligned (glTF §3.6.2.4)
            self.blob.append(0)
        self.views.append(
            {
                "buffer": 0,
                "byteOffset": len(self.blob),
                "byteLength": data.nbytes,
                "target": target,
            }
        )
        self.blob += data.tobytes()
        accessor: dict[str, Any] = {
            "bufferView": len(self.views) - 1,
            "componentType": component,
            "count": int(data.shape[0]) if kind != "SCALAR" else int(data.size),
            "type": kind,
        }
        if normalized:
            accessor["normalized"] = True
        if bounds:
            accessor["min"] = [float(v) for v in data.min(axis=0)]
            accessor["max"] = [float(v) for v in data.max(axis=0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def write_glb(
    parts: list[MeshPart],
    *,
    generator: str = DEFAULT_GENERATOR,
    extras: dict[str, Any] | None = None,
) -> bytes:
    """Encode ``parts`` as one GLB: a node, mesh and material per part."""
    if not parts:
        raise MeshError("empty_mesh", "a GLB needs at least one mesh part")
    b = _Builder()
    meshes: list[dict[str, Any]] = []
    materials: list[dict[str, Any]] = []
    for part in parts:
        attributes = {
            "POSITION": b.add(
                enu_to_gltf(part.positions_m),
                component=FLOAT,
                kind="VEC3",
                target=ARRAY_BUFFER,
                bounds=True,  # POSITION min/max are required by the spec
            )
        }
        if part.normals is not None:
            attributes["NORMAL"] = b.add(
                enu_to_gltf(part.normals), component=FLOAT, kind="VEC3", target=ARRAY_BUFFER
            )
        if part.uvs is not None:
            attributes["TEXCOORD_0"] = b.add(
                part.uvs, component=FLOAT, kind="VEC2", target=ARRAY_BUFFER
            )
        if part.colors_rgba is not None:
            attributes["COLOR_0"] = b.add(
                part.colors_rgba,
                component=UNSIGNED_BYTE,
                kind="VEC4",
                target=ARRAY_BUFFER,
                normalized=True,
            )
        small = part.vertex_count <= 0xFFFF
        indices = b.add(
            part.indices.reshape(-1).astype(np.uint16 if small else np.uint32),
            component=UNSIGNED_SHORT if small else UNSIGNED_INT,
            kind="SCALAR",
            target=ELEMENT_ARRAY_BUFFER,
        )
        materials.append(
            {
                "name": part.name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": [float(c) for c in part.base_color_rgba],
                    "metallicFactor": float(part.metallic),
                    "roughnessFactor": float(part.roughness),
                },
                **({"alphaMode": "BLEND"} if part.base_color_rgba[3] < 1.0 else {}),
            }
        )
        meshes.append(
            {
                "name": part.name,
                "primitives": [
                    {
                        "attributes": attributes,
                        "indices": indices,
                        "material": len(materials) - 1,
                        "mode": TRIANGLES,
                    }
                ],
            }
        )
    while len(b.blob) % 4:
        b.blob.append(0)
    document: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": generator},
        "scene": 0,
        "scenes": [{"nodes": list(range(len(parts)))}],
        "nodes": [{"name": p.name, "mesh": i} for i, p in enumerate(parts)],
        "meshes": meshes,
        "materials": materials,
        "accessors": b.accessors,
        "bufferViews": b.views,
        "buffers": [{"byteLength": len(b.blob)}],
    }
    if extras:
        document["asset"]["extras"] = extras
    return _container(document, bytes(b.blob))


def _container(document: dict[str, Any], blob: bytes) -> bytes:
    text = json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    json_chunk = text.encode("utf-8")
    json_chunk += b" " * (-len(json_chunk) % 4)  # JSON chunk pads with spaces
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(json_chunk) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<4sII", GLB_MAGIC, GLB_VERSION, total),
            struct.pack("<II", len(json_chunk), CHUNK_JSON),
            json_chunk,
            struct.pack("<II", len(blob), CHUNK_BIN),
            blob,
        ]
    )


def read_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a GLB into its JSON document and BIN chunk (empty when absent)."""
    if len(data) < 20 or data[:4] != GLB_MAGIC:
        raise MeshError("not_glb", "not a GLB file (bad magic)")
    _, version, total = struct.unpack_from("<4sII", data, 0)
    if version != GLB_VERSION or total != len(data):
        raise MeshError("not_glb", f"GLB header says version {version}, {total} bytes")
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != CHUNK_JSON or 20 + length > total:
        raise MeshError("not_glb", "GLB does not start with a JSON chunk")
    document: dict[str, Any] = json.loads(data[20 : 20 + length])
    offset = 20 + length
    blob = b""
    if offset + 8 <= total:
        blob_length, blob_kind = struct.unpack_from("<II", data, offset)
        if blob_kind == CHUNK_BIN:
            blob = data[offset + 8 : offset + 8 + blob_length]
    return document, blob


def read_accessor(document: dict[str, Any], blob: bytes, index: int) -> NDArray[Any]:
    """The array an accessor describes (tightly packed views only, as we write them)."""
    accessor = document["accessors"][index]
    view = document["bufferViews"][accessor["bufferView"]]
    dtype = COMPONENT_DTYPES[accessor["componentType"]]
    width = TYPE_WIDTHS[accessor["type"]]
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    flat = np.frombuffer(blob, dtype=dtype, count=accessor["count"] * width, offset=start)
    return flat.reshape(-1, width) if width > 1 else flat
