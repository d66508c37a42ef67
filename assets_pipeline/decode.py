"""GLB decoding for tests and benchmarks: compressed and quantized glTF back to world triangles.

``decode_glb`` understands what optimisers such as gltfpack write: KHR_mesh_quantization
(normalized and integer attributes dequantized by node transforms), EXT_meshopt_compression
(and its KHR twin), KHR_draco_mesh_compression, EXT_mesh_gpu_instancing,
KHR_texture_transform and EXT_texture_webp. Positions come out in glTF's frame (y up),
in metres, after every node and instance transform. ``surface_distance`` measures how far
apart two triangle surfaces are, the geometric error of a compressed or simplified mesh.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import DracoPy
import meshoptimizer
import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from assets_pipeline.glb import COMPONENT_DTYPES, TYPE_WIDTHS, read_glb

Json = dict[str, Any]
Matrix4 = NDArray[np.float64]

_INDEX_TYPES = (5121, 5123, 5125)  # UNSIGNED_BYTE, UNSIGNED_SHORT, UNSIGNED_INT
_MESHOPT = ("EXT_meshopt_compression", "KHR_meshopt_compression")
_DRACO = "KHR_draco_mesh_compression"
_INSTANCING = "EXT_mesh_gpu_instancing"
_TEXTURE_TRANSFORM = "KHR_texture_transform"
# Extensions a file may require that change nothing about geometry or images as bytes.
_UNDERSTOOD = {
    *_MESHOPT,
    _DRACO,
    _INSTANCING,
    _TEXTURE_TRANSFORM,
    "KHR_mesh_quantization",
    "EXT_texture_webp",
    "EXT_texture_avif",
    "KHR_texture_basisu",
    "KHR_lights_punctual",
}
_TRIANGLES, _STRIP, _FAN = 4, 5, 6


@dataclass(frozen=True, eq=False)
class DecodedPrimitive:
    """One placed primitive, in world space.

    positions: (n, 3) float64, glTF frame (y up), after node/instance transforms and
        dequantization.
    indices: (m, 3) uint32, counter-clockwise from the front in world space (a mirroring
        transform has already been compensated).
    normals: (n, 3) float32 world-space unit vectors, or None.
    uvs: (n, 2) float32 of the base colour texture's set, after KHR_texture_transform.
    instance_of: the mesh index; several placements of one mesh share it.
    """

    positions: NDArray[np.float64]
    indices: NDArray[np.uint32]
    normals: NDArray[np.float32] | None
    uvs: NDArray[np.float32] | None
    material: int | None
    instance_of: int


@dataclass(frozen=True, eq=False)
class DecodedScene:
    """Everything a GLB draws: one DecodedPrimitive per placed primitive, and its images."""

    primitives: list[DecodedPrimitive]
    images: list[tuple[str, bytes]]  # (mime type, encoded bytes), in document order
    extensions_used: list[str]

    def merged(self) -> tuple[NDArray[np.float64], NDArray[np.uint32]]:
        """All triangles: positions (n, 3) float64 and indices (m, 3) uint32."""
        if not self.primitives:
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.uint32)
        offsets = np.cumsum([0] + [len(p.positions) for p in self.primitives[:-1]])
        positions = np.concatenate([p.positions for p in self.primitives])
        indices = np.concatenate(
            [p.indices + np.uint32(o) for p, o in zip(self.primitives, offsets, strict=True)]
        )
        return positions, indices.astype(np.uint32)

    @property
    def triangle_count(self) -> int:
        return sum(len(p.indices) for p in self.primitives)


@dataclass(frozen=True, eq=False)
class _Geometry:
    """A primitive's attributes in its mesh's own space, before any placement."""

    positions: NDArray[np.float64]
    indices: NDArray[np.uint32]
    normals: NDArray[np.float64] | None
    uvs: NDArray[np.float32] | None
    material: int | None


def decode_glb(data: bytes, files: Mapping[str, bytes] | None = None) -> DecodedScene:
    """Decode a GLB into world-space primitives and its images; ValueError if it can't.
    ``files`` holds the images an external-texture GLB refers to, by bare file name."""
    document, blob = read_glb(data)
    try:
        return _Decoder(document, blob, files or {}).scene()
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        # A field missing or of the wrong type: the document breaks the glTF schema.
        raise ValueError(f"malformed glTF document: {type(error).__name__} {error}") from error


class _Decoder:
    def __init__(self, document: Json, blob: bytes, files: Mapping[str, bytes]) -> None:
        self.doc = document
        self.blob = blob
        self.files = files
        self._buffers: dict[int, bytes | None] = {}
        self._views: dict[int, bytes] = {}
        self._geometry: dict[tuple[int, int], _Geometry] = {}
        unknown = set(document.get("extensionsRequired", [])) - _UNDERSTOOD
        unknown = {name for name in unknown if not name.startswith("KHR_materials_")}
        if unknown:
            raise ValueError(f"GLB requires extensions this decoder lacks: {sorted(unknown)}")

    def scene(self) -> DecodedScene:
        primitives: list[DecodedPrimitive] = []
        for node_index, world in self._placed_nodes():
            node = self.doc["nodes"][node_index]
            mesh_index = int(node["mesh"])
            mesh = self._item("meshes", mesh_index)
            for matrix in self._instances(node, world):
                for p in range(len(mesh["primitives"])):
                    primitives.append(self._place(mesh_index, p, matrix))
        return DecodedScene(
            primitives=primitives,
            images=[self._image(i) for i in range(len(self.doc.get("images", [])))],
            extensions_used=list(self.doc.get("extensionsUsed", [])),
        )

    def _item(self, kind: str, index: int) -> Json:
        items = self.doc.get(kind, [])
        if not 0 <= index < len(items):
            raise ValueError(f"{kind}[{index}] does not exist ({len(items)} defined)")
        item: Json = items[index]
        return item

    # --- scene graph -------------------------------------------------------------------

    def _placed_nodes(self) -> list[tuple[int, Matrix4]]:
        nodes = self.doc.get("nodes", [])
        scenes = self.doc.get("scenes")
        if scenes:
            roots = list(self._item("scenes", int(self.doc.get("scene", 0))).get("nodes", []))
        else:
            children = {c for n in nodes for c in n.get("children", [])}
            roots = [i for i in range(len(nodes)) if i not in children]
        placed: list[tuple[int, Matrix4]] = []
        stack: list[tuple[int, Matrix4, int]] = [(r, np.eye(4), 0) for r in reversed(roots)]
        while stack:
            index, parent, depth = stack.pop()
            if depth > len(nodes):
                raise ValueError("the node hierarchy has a cycle")
            world = parent @ _local_matrix(self._item("nodes", index))
            if "mesh" in nodes[index]:
                placed.append((index, world))
            for child in reversed(nodes[index].get("children", [])):
                stack.append((int(child), world, depth + 1))
        return placed

    def _instances(self, node: Json, world: Matrix4) -> list[Matrix4]:
        extension = node.get("extensions", {}).get(_INSTANCING)
        if extension is None:
            return [world]
        attributes = extension.get("attributes", {})
        arrays = {name: self._floats(int(a)) for name, a in attributes.items()}
        counts = {len(a) for a in arrays.values()}
        if len(counts) != 1:
            raise ValueError(f"{_INSTANCING}: attributes disagree on the instance count")
        (count,) = counts
        translation = arrays.get("TRANSLATION", np.zeros((count, 3)))
        rotation = arrays.get("ROTATION", np.tile([0.0, 0.0, 0.0, 1.0], (count, 1)))
        scale = arrays.get("SCALE", np.ones((count, 3)))
        local = _trs_matrices(translation, rotation, scale)
        return [world @ m for m in local]

    # --- primitives ----------------------------------------------------------------------

    def _place(self, mesh: int, primitive: int, matrix: Matrix4) -> DecodedPrimitive:
        key = (mesh, primitive)
        if key not in self._geometry:
            self._geometry[key] = self._decode_primitive(mesh, primitive)
        g = self._geometry[key]
        linear = matrix[:3, :3]
        positions = g.positions @ linear.T + matrix[:3, 3]
        indices = g.indices
        if np.linalg.det(linear) < 0:  # a mirror flips the winding (glTF 2.0 §3.7.4)
            indices = np.ascontiguousarray(indices[:, [0, 2, 1]])
        normals = None
        if g.normals is not None:
            try:
                world_normals = g.normals @ np.linalg.inv(linear)
            except np.linalg.LinAlgError as error:
                raise ValueError(f"mesh {mesh}: placed with a singular transform") from error
            length = np.linalg.norm(world_normals, axis=1, keepdims=True)
            normals = (world_normals / np.where(length > 0, length, 1.0)).astype(np.float32)
        return DecodedPrimitive(positions, indices, normals, g.uvs, g.material, mesh)

    def _decode_primitive(self, mesh: int, index: int) -> _Geometry:
        primitive: Json = self._item("meshes", mesh)["primitives"][index]
        where = f"meshes[{mesh}].primitives[{index}]"
        mode = int(primitive.get("mode", _TRIANGLES))
        if mode not in (_TRIANGLES, _STRIP, _FAN):
            raise ValueError(f"{where}: mode {mode} is not a triangle topology")
        material = primitive.get("material")
        uv_set, transform = self._base_color_uvs(material)
        attributes: dict[str, int] = primitive["attributes"]
        if "POSITION" not in attributes:
            raise ValueError(f"{where}: has no POSITION")
        draco = primitive.get("extensions", {}).get(_DRACO)
        if draco is not None:
            columns, flat = self._draco(draco, attributes, where)
        else:
            columns = {
                name: self._floats(int(a))
                for name, a in attributes.items()
                if name in ("POSITION", "NORMAL", f"TEXCOORD_{uv_set}")
            }
            if "indices" in primitive:
                flat = self._indices(int(primitive["indices"]))
            else:
                flat = np.arange(len(columns["POSITION"]), dtype=np.uint32)
        positions = columns["POSITION"]
        triangles = _triangulate(flat, mode, where)
        if triangles.size and int(triangles.max()) >= len(positions):
            raise ValueError(f"{where}: an index points past {len(positions)} vertices")
        uvs = columns.get(f"TEXCOORD_{uv_set}")
        return _Geometry(
            positions=positions[:, :3],
            indices=triangles,
            normals=columns.get("NORMAL"),
            uvs=None if uvs is None else _transform_uvs(uvs, transform),
            material=None if material is None else int(material),
        )

    def _base_color_uvs(self, material: int | None) -> tuple[int, Json]:
        """The UV set the base colour texture samples, and its KHR_texture_transform."""
        if material is None:
            return 0, {}
        info = self._item("materials", int(material)).get("pbrMetallicRoughness", {})
        texture_info = info.get("baseColorTexture")
        if texture_info is None:
            return 0, {}
        transform: Json = texture_info.get("extensions", {}).get(_TEXTURE_TRANSFORM, {})
        return int(transform.get("texCoord", texture_info.get("texCoord", 0))), transform

    def _draco(
        self, extension: Json, attributes: dict[str, int], where: str
    ) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.uint32]]:
        encoded = self._view(int(extension["bufferView"]))
        try:
            mesh = DracoPy.decode(encoded)
        except Exception as error:  # DracoPy raises its own exception types
            raise ValueError(f"{where}: Draco data does not decode: {error}") from error
        columns: dict[str, NDArray[np.float64]] = {}
        for name, unique_id in extension.get("attributes", {}).items():
            # DracoPy numbers attributes its own way; the extension's ids are unique ids.
            attribute = mesh.get_attribute_by_unique_id(int(unique_id))
            if attribute is None:
                raise ValueError(f"{where}: Draco data has no attribute id {unique_id}")
            values = np.asarray(attribute["data"])
            values = values.reshape(len(values), -1)
            accessor = self._item("accessors", attributes[name]) if name in attributes else {}
            if accessor.get("normalized") and values.dtype.kind in "iu":
                columns[name] = _normalize(values)
            else:
                columns[name] = values.astype(np.float64)
        if "POSITION" not in columns:
            raise ValueError(f"{where}: {_DRACO} maps no POSITION attribute")
        faces = np.asarray(mesh.faces, dtype=np.uint32).reshape(-1)
        return columns, faces

    # --- accessors and buffers -----------------------------------------------------------

    def _floats(self, index: int) -> NDArray[np.float64]:
        """An accessor's values as float64 (count, width), normalized ints dequantized."""
        raw = self._accessor(index)
        if self.doc["accessors"][index].get("normalized"):
            return _normalize(raw)
        return raw.astype(np.float64)

    def _indices(self, index: int) -> NDArray[np.uint32]:
        accessor = self._item("accessors", index)
        if accessor.get("type") != "SCALAR" or accessor.get("componentType") not in _INDEX_TYPES:
            raise ValueError(f"accessors[{index}]: indices must be unsigned SCALAR integers")
        return self._accessor(index).reshape(-1).astype(np.uint32)

    def _accessor(self, index: int) -> NDArray[Any]:
        accessor = self._item("accessors", index)
        if "sparse" in accessor:
            raise ValueError(f"accessors[{index}]: sparse accessors are not supported")
        component = accessor.get("componentType")
        kind = accessor.get("type")
        if component not in COMPONENT_DTYPES or kind not in TYPE_WIDTHS:
            raise ValueError(f"accessors[{index}]: unknown type {kind} of component {component}")
        dtype = np.dtype(COMPONENT_DTYPES[component]).newbyteorder("<")
        width = TYPE_WIDTHS[kind]
        if kind.startswith("MAT") and dtype.itemsize < 4:
            raise ValueError(f"accessors[{index}]: padded {kind} columns are not supported")
        count = int(accessor["count"])
        if "bufferView" not in accessor:
            return np.zeros((count, width), dtype=dtype)  # all zeros by definition
        view_index = int(accessor["bufferView"])
        data = self._view(view_index)
        element = dtype.itemsize * width
        stride = int(self._item("bufferViews", view_index).get("byteStride", 0)) or element
        offset = int(accessor.get("byteOffset", 0))
        if count and offset + stride * (count - 1) + element > len(data):
            raise ValueError(
                f"accessors[{index}]: {count} × {stride} bytes from {offset} overrun "
                f"bufferViews[{view_index}] ({len(data)} bytes)"
            )
        array = np.ndarray(
            (count, width),
            dtype=dtype,
            buffer=data,
            offset=offset,
            strides=(stride, dtype.itemsize),
        )
        return array.copy()

    def _view(self, index: int) -> bytes:
        if index not in self._views:
            view = self._item("bufferViews", index)
            extensions = view.get("extensions", {})
            compressed = next((extensions[name] for name in _MESHOPT if name in extensions), None)
            if compressed is not None:
                self._views[index] = self._meshopt(compressed, index)
            else:
                self._views[index] = self._slice(view, f"bufferViews[{index}]")
        return self._views[index]

    def _slice(self, view: Json, where: str) -> bytes:
        data = self._buffer(int(view["buffer"]))
        if data is None:
            raise ValueError(f"{where}: its buffer holds no data")
        start = int(view.get("byteOffset", 0))
        end = start + int(view["byteLength"])
        if end > len(data):
            raise ValueError(f"{where}: bytes {start}..{end} overrun a {len(data)}-byte buffer")
        return data[start:end]

    def _buffer(self, index: int) -> bytes | None:
        """A buffer's bytes; None for a buffer without data (a meshopt fallback)."""
        if index not in self._buffers:
            buffer = self._item("buffers", index)
            uri = buffer.get("uri")
            data: bytes | None
            if uri is None:
                data = self.blob if index == 0 else None
            elif uri.startswith("data:"):
                data = base64.b64decode(uri.split(",", 1)[1])
            else:
                raise ValueError(f"buffers[{index}]: external file {uri!r} is not available")
            if data is not None and len(data) < int(buffer["byteLength"]):
                raise ValueError(f"buffers[{index}]: holds fewer bytes than its byteLength")
            self._buffers[index] = data
        return self._buffers[index]

    def _meshopt(self, extension: Json, index: int) -> bytes:
        where = f"bufferViews[{index}] (meshopt)"
        source = self._slice(extension, where)
        count = int(extension["count"])
        stride = int(extension["byteStride"])
        mode = extension["mode"]
        filter_name = extension.get("filter", "NONE")
        try:
            if mode == "ATTRIBUTES":
                decoded = meshoptimizer.decode_vertex_buffer(count, stride, source)
                raw = np.frombuffer(decoded.tobytes(), dtype=np.uint8).copy()
                return _unfilter(raw, count, stride, filter_name, where)
            if mode in ("TRIANGLES", "INDICES"):
                if stride not in (2, 4):
                    raise ValueError(f"{where}: index byteStride must be 2 or 4, not {stride}")
                # The wrapper's 2-byte output is mislabelled as uint32: decode 4-byte, narrow.
                decode = (
                    meshoptimizer.decode_index_buffer
                    if mode == "TRIANGLES"
                    else meshoptimizer.decode_index_sequence
                )
                values = np.asarray(decode(count, 4, source), dtype=np.uint32)
                return values.astype("<u2" if stride == 2 else "<u4").tobytes()
        except RuntimeError as error:
            raise ValueError(f"{where}: {mode} data does not decode: {error}") from error
        raise ValueError(f"{where}: unknown mode {mode!r}")

    def _image(self, index: int) -> tuple[str, bytes]:
        image = self._item("images", index)
        if "bufferView" in image:
            data = self._view(int(image["bufferView"]))
        elif str(image.get("uri", "")).startswith("data:"):
            data = base64.b64decode(image["uri"].split(",", 1)[1])
        elif image.get("uri") in self.files:
            data = self.files[image["uri"]]
        else:
            raise ValueError(f"images[{index}]: external file {image.get('uri')!r} not available")
        mime = image.get("mimeType") or _sniff_mime(data)
        return str(mime), data


def _unfilter(raw: NDArray[np.uint8], count: int, stride: int, name: str, where: str) -> bytes:
    if name == "NONE":
        return raw.tobytes()
    if name == "OCTAHEDRAL":
        if stride not in (4, 8):
            raise ValueError(f"{where}: OCTAHEDRAL needs byteStride 4 or 8, not {stride}")
        out = meshoptimizer.decode_filter_oct(raw, count, stride)
    elif name == "QUATERNION":
        if stride != 8:
            raise ValueError(f"{where}: QUATERNION needs byteStride 8, not {stride}")
        out = meshoptimizer.decode_filter_quat(raw, count, stride)
    elif name == "EXPONENTIAL":
        if stride % 4:
            raise ValueError(f"{where}: EXPONENTIAL needs a byteStride multiple of 4")
        out = meshoptimizer.decode_filter_exp(raw, count, stride)
    else:
        raise ValueError(f"{where}: unsupported filter {name!r}")
    return np.asarray(out, dtype=np.uint8).tobytes()


def _normalize(values: NDArray[Any]) -> NDArray[np.float64]:
    """KHR_mesh_quantization / glTF §3.11 normalized integers to floats."""
    if values.dtype.kind == "f":
        return values.astype(np.float64)
    info = np.iinfo(values.dtype)
    scaled = values.astype(np.float64) / info.max
    return np.maximum(scaled, -1.0) if info.min < 0 else scaled


def _triangulate(flat: NDArray[np.uint32], mode: int, where: str) -> NDArray[np.uint32]:
    if mode == _TRIANGLES:
        if len(flat) % 3:
            raise ValueError(f"{where}: {len(flat)} indices is not a whole number of triangles")
        return flat.reshape(-1, 3)
    n = max(len(flat) - 2, 0)
    i = np.arange(n)
    if mode == _STRIP:  # glTF 2.0 §3.7.2.1: every other triangle swaps two corners
        odd = i % 2
        corners = np.stack([i, i + 1 + odd, i + 2 - odd], axis=1)
    else:
        corners = np.stack([i + 1, i + 2, np.zeros_like(i)], axis=1)
    return flat[corners].astype(np.uint32)


def _transform_uvs(uvs: NDArray[np.float64], transform: Json) -> NDArray[np.float32]:
    """KHR_texture_transform: uv' = offset + R(rotation) · (scale ⊙ uv)."""
    uv = uvs[:, :2]
    if transform:
        scale = np.asarray(transform.get("scale", [1.0, 1.0]), dtype=np.float64)
        offset = np.asarray(transform.get("offset", [0.0, 0.0]), dtype=np.float64)
        angle = float(transform.get("rotation", 0.0))
        c, s = np.cos(angle), np.sin(angle)
        # Counter-clockwise in UV space, whose v axis points down the image.
        rotation = np.array([[c, s], [-s, c]])
        uv = (uv * scale) @ rotation.T + offset
    return uv.astype(np.float32)


def _local_matrix(node: Json) -> Matrix4:
    if "matrix" in node:
        matrix: Matrix4 = np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4)
        return matrix.T  # glTF stores matrices column by column
    matrices = _trs_matrices(
        np.asarray([node.get("translation", [0.0, 0.0, 0.0])], dtype=np.float64),
        np.asarray([node.get("rotation", [0.0, 0.0, 0.0, 1.0])], dtype=np.float64),
        np.asarray([node.get("scale", [1.0, 1.0, 1.0])], dtype=np.float64),
    )
    first: Matrix4 = matrices[0]
    return first


def _trs_matrices(
    translation: NDArray[np.float64], rotation: NDArray[np.float64], scale: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(n, 4, 4) matrices T · R · S from (n, 3) translations, (n, 4) xyzw quaternions and
    (n, 3) scales."""
    norm = np.linalg.norm(rotation, axis=1, keepdims=True)
    x, y, z, w = (rotation / np.where(norm > 0, norm, 1.0)).T
    r = np.empty((len(rotation), 3, 3))
    r[:, 0] = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], 1)
    r[:, 1] = np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], 1)
    r[:, 2] = np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1)
    out = np.zeros((len(rotation), 4, 4))
    out[:, :3, :3] = r * scale[:, None, :3]
    out[:, :3, 3] = translation[:, :3]
    out[:, 3, 3] = 1.0
    return out


def _sniff_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"\xabKTX 20"):
        return "image/ktx2"
    raise ValueError("an image has no mimeType and unrecognised bytes")


# --- geometric error ---------------------------------------------------------------------

_CANDIDATES = 16  # nearest centroids whose triangles are measured exactly
_PROXY_BUDGET = 4  # proxy points per triangle, on average, at most (plus a fixed 250k)
_CHUNK = 16_384  # points per vectorised batch (bounds memory at ~100 MB)
_QUERY_THREADS = 2  # scipy runs k-d tree queries on threads of its own (GIL released)


def surface_distance(
    ref_positions: NDArray[np.floating[Any]],
    ref_indices: NDArray[np.integer[Any]],
    test_positions: NDArray[np.floating[Any]],
    test_indices: NDArray[np.integer[Any]],
    samples: int = 200_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Symmetric distance between two triangle surfaces: (mean, p99), in position units.

    ``samples`` points are drawn uniformly by area on each surface; each one's exact
    distance to the other surface is measured, and the mean and 99th percentile are taken
    over both directions together. positions: (n, 3); indices: (m, 3).
    """
    if samples < 1:
        raise ValueError("surface_distance needs at least one sample")
    ref = _triangle_corners(ref_positions, ref_indices, "reference")
    test = _triangle_corners(test_positions, test_indices, "test")
    rng = np.random.default_rng(seed)
    there = distance_to_surface(sample_surface(ref, samples, rng), test)
    back = distance_to_surface(sample_surface(test, samples, rng), ref)
    both = np.concatenate([there, back])
    return float(both.mean()), float(np.quantile(both, 0.99))


def sample_surface(
    corners: NDArray[np.float64], samples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """(samples, 3) points uniform by area over triangles given as (m, 3, 3) corners."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = float(area.sum())
    if not total > 0:
        raise ValueError("a surface with zero area cannot be sampled")
    chosen = np.searchsorted(np.cumsum(area), rng.random(samples) * total, side="right")
    chosen = np.minimum(chosen, len(area) - 1)
    r1 = np.sqrt(rng.random((samples, 1)))
    r2 = rng.random((samples, 1))
    return (1 - r1) * a[chosen] + r1 * (1 - r2) * b[chosen] + r1 * r2 * c[chosen]


def distance_to_surface(
    points: NDArray[np.float64], corners: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(n,) exact distance from each point to the nearest of (m, 3, 3) triangles.

    Candidates are the triangles owning the nearest centroids. Each centroid stands for a
    patch of its triangle no wider than a bound radius (large triangles are covered by
    several patches), so when the k-th nearest centroid is too close to rule the rest
    out, the point searches again within that bound: the result is exact, not an estimate.
    """
    centres, owners, patch_radius = _proxies(corners)
    reach = float(patch_radius.max())
    tree = cKDTree(centres)
    k = min(_CANDIDATES, len(centres))
    best = np.empty(len(points))
    unresolved: list[NDArray[np.intp]] = []
    for start in range(0, len(points), _CHUNK):
        here = points[start : start + _CHUNK]
        near, found = tree.query(here, k=k, workers=_QUERY_THREADS)
        near, found = near.reshape(len(here), k), found.reshape(len(here), k)
        triangles = owners[found]
        # The nearest centroid's triangle first: its distance rules most others out.
        chunk_best = _point_triangle_distance(here, corners[triangles[:, 0]])
        hopeful = near[:, 1:] - patch_radius[found[:, 1:]] < chunk_best[:, None]
        rows, cols = np.nonzero(hopeful)
        exact = np.full(hopeful.shape, np.inf)
        exact[rows, cols] = _point_triangle_distance(here[rows], corners[triangles[rows, cols + 1]])
        chunk_best = np.minimum(chunk_best, exact.min(axis=1, initial=np.inf))
        best[start : start + len(here)] = chunk_best
        if len(centres) > k:
            unresolved.append(start + np.flatnonzero(near[:, -1] - reach < chunk_best))
    pending = np.concatenate(unresolved) if unresolved else np.zeros(0, dtype=np.intp)
    for start in range(0, len(pending), _CHUNK // 16):
        which = pending[start : start + _CHUNK // 16]
        # every centre within the largest patch radius of beating the best so far ...
        lists = tree.query_ball_point(points[which], best[which] + reach, workers=_QUERY_THREADS)
        lengths = np.fromiter((len(ball) for ball in lists), dtype=np.intp, count=len(lists))
        rows = np.repeat(which, lengths)
        hits = np.fromiter(itertools.chain.from_iterable(lists), np.intp, count=int(lengths.sum()))
        # ... then only those within their own patch's radius of it: a patch further than that
        # holds no point nearer than the best (one large triangle sets `reach` for all, and
        # without this the bench city measured millions of needless point-triangle pairs)
        gap = np.linalg.norm(points[rows] - centres[hits], axis=1) - patch_radius[hits]
        near_enough = gap < best[rows]
        rows, triangles = rows[near_enough], owners[hits[near_enough]]
        pairs = np.unique(rows.astype(np.int64) * len(corners) + triangles)
        if pairs.size:
            rows, triangles = np.divmod(pairs, len(corners))
            exact = _point_triangle_distance(points[rows], corners[triangles])
            np.minimum.at(best, rows, exact)
    return best


def _proxies(
    corners: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.float64]]:
    """Patch centres (p, 3), their triangles (p,) and radii (p,) covering every triangle.

    A triangle wider than the patch radius is cut into s² similar sub-triangles (each 1/s
    the size); the radius is twice the median triangle's, raised until the patches fit
    the budget, so meshes of even triangles get one patch per triangle.
    """
    centroids = corners.mean(axis=1)
    radii = np.linalg.norm(corners - centroids[:, None, :], axis=2).max(axis=1)
    limit = max(2.0 * float(np.median(radii)), 1e-12)
    budget = _PROXY_BUDGET * len(corners) + 250_000
    while True:
        splits = np.ceil(radii / limit).astype(np.int64)
        if int((splits * splits).sum()) <= budget:
            break
        limit *= 1.25
    centres, owners, patch_radius = [centroids], [np.arange(len(corners))], [radii]
    whole = splits <= 1
    centres[0], owners[0], patch_radius[0] = centroids[whole], owners[0][whole], radii[whole]
    for s in np.unique(splits[~whole]):
        members = np.flatnonzero(splits == s)
        i, j = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
        up = (i + j <= s - 1).ravel()
        down = (i + j <= s - 2).ravel()
        bary = np.concatenate(  # (u, v) of sub-triangle centroids, in units of the edges
            [
                np.stack([i.ravel()[up] + 1 / 3, j.ravel()[up] + 1 / 3], 1),
                np.stack([i.ravel()[down] + 2 / 3, j.ravel()[down] + 2 / 3], 1),
            ]
        ) / float(s)
        a = corners[members, 0]
        ab = corners[members, 1] - a
        ac = corners[members, 2] - a
        grid = a[:, None] + bary[None, :, :1] * ab[:, None] + bary[None, :, 1:] * ac[:, None]
        centres.append(grid.reshape(-1, 3))
        owners.append(np.repeat(members, len(bary)))
        patch_radius.append(np.repeat(radii[members] / float(s), len(bary)))
    return np.concatenate(centres), np.concatenate(owners), np.concatenate(patch_radius)


def _triangle_corners(
    positions: NDArray[np.floating[Any]], indices: NDArray[np.integer[Any]], name: str
) -> NDArray[np.float64]:
    p = np.asarray(positions, dtype=np.float64)
    i = np.asarray(indices).reshape(-1, 3)
    if p.ndim != 2 or p.shape[1] != 3 or not len(i):
        raise ValueError(f"{name} surface needs (n, 3) positions and at least one triangle")
    if int(i.min()) < 0 or int(i.max()) >= len(p):
        raise ValueError(f"{name} surface has indices outside its {len(p)} positions")
    return p[i]


def _point_triangle_distance(
    p: NDArray[np.float64], corners: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(n,) distance from points (n, 3) to triangles (n, 3, 3), by Voronoi region of the
    closest feature (Ericson, Real-Time Collision Detection §5.1.5)."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c

    def dot(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(np.einsum("ij,ij->i", u, v), dtype=np.float64)

    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denominator = va + vb + vc  # |ab × ac|², by Lagrange's identity
    flat = denominator <= 1e-12 * dot(ab, ab) * dot(ac, ac)
    safe = np.where(flat, 1.0, denominator)
    closest = a + ab * (vb / safe)[:, None] + ac * (vc / safe)[:, None]

    def edge(
        start: NDArray[np.float64], direction: NDArray[np.float64], t: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        return start + direction * np.clip(np.nan_to_num(t), 0.0, 1.0)[:, None]

    with np.errstate(divide="ignore", invalid="ignore"):
        regions = [  # Ericson's order: the first region that holds wins
            (d1 <= 0) & (d2 <= 0),
            (d3 >= 0) & (d4 <= d3),
            (vc <= 0) & (d1 >= 0) & (d3 <= 0),
            (d6 >= 0) & (d5 <= d6),
            (vb <= 0) & (d2 >= 0) & (d6 <= 0),
            (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
        ]
        points = [
            a,
            b,
            edge(a, ab, d1 / (d1 - d3)),
            c,
            edge(a, ac, d2 / (d2 - d6)),
            edge(b, c - b, (d4 - d3) / ((d4 - d3) + (d5 - d6))),
        ]
    taken = np.zeros(len(p), dtype=bool)
    for region, point in zip(regions, points, strict=True):
        use = region & ~taken
        closest[use] = point[use]
        taken |= region
    distance: NDArray[np.float64] = np.linalg.norm(p - closest, axis=1)
    if flat.any():  # a zero-area triangle: the nearest of its three edges
        q, s = p[flat], corners[flat]
        distance[flat] = np.min(
            [_segment_distance(q, s[:, i], s[:, (i + 1) % 3]) for i in range(3)], axis=0
        )
    return distance


def _segment_distance(
    p: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64]
) -> NDArray[np.float64]:
    ab = b - a
    length2 = np.einsum("ij,ij->i", ab, ab)
    t = np.einsum("ij,ij->i", p - a, ab) / np.where(length2 > 0, length2, 1.0)
    closest = a + ab * np.clip(t, 0.0, 1.0)[:, None]
    return np.asarray(np.linalg.norm(p - closest, axis=1), dtype=np.float64)
