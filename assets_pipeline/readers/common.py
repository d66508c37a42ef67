"""What every reader shares: limits and the report, error helpers, loading through
trimesh, and turning trimesh geometry into :class:`MeshPart` and :class:`Placement`
(y-up → ENU, colours, UVs, materials).

trimesh (5.2) behaviour this module relies on or works around:

* Geometry, triangle strips, normals, Draco decoding and the scene graph come from
  trimesh, loaded with ``process=False`` so vertices are neither merged nor reordered.
* UV convention: glTF's v grows downwards (origin top-left). trimesh flips glTF UVs on
  load to the OpenGL/OBJ convention (``v_trimesh = 1 - v_gltf``) and OBJ UVs are already
  in it, so every UV taken from trimesh is flipped back: ``v = 1 - v_trimesh``.
* Whether a file carried vertex normals is read from ``mesh._cache`` (trimesh would
  otherwise compute them on access).
* trimesh's scene graph is a forest keyed by node name; ``nodes_geometry`` lists one
  node per drawn geometry, and a node drawing a multi-primitive glTF mesh gets one
  child per primitive with a random name, so placements are sorted by (part, matrix).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image

from assets_pipeline.mesh import MeshError, MeshPart, Placement, Rgba, Texture
from assets_pipeline.readers.sidecars import _Resolver
from assets_pipeline.textures import from_content

MAX_INPUT_BYTES = 512 * 1024 * 1024
SUPPORTED_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl")

# glTF y-up → ENU: (x, y, z) ↦ (x, -z, y); orthonormal with det +1, so C⁻¹ = Cᵀ.
Y_UP_TO_ENU = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)


@dataclass(frozen=True)
class InputLimits:
    """What a reader accepts. Vertex and triangle counts are of the distinct geometry
    held in memory (an instanced mesh counts once); ``max_placements`` caps glTF nodes."""

    max_bytes: int = MAX_INPUT_BYTES
    max_triangles: int = 10_000_000
    max_vertices: int = 10_000_000
    max_placements: int = 1_000_000


@dataclass(frozen=True)
class ReadReport:
    """What a reader dropped or could not honour (the scene is still usable)."""

    non_finite_vertices: int = 0  # NaN/inf positions, dropped with their triangles
    non_finite_triangles: int = 0  # triangles dropped because they touched one
    skipped_geometries: int = 0  # points, lines and geometry without triangles
    warnings: tuple[str, ...] = ()


@dataclass
class _Notes:
    """Mutable collector behind :class:`ReadReport`."""

    warnings: list[str] = field(default_factory=list)
    non_finite_vertices: int = 0
    non_finite_triangles: int = 0
    skipped_geometries: int = 0

    def report(self) -> ReadReport:
        return ReadReport(
            non_finite_vertices=self.non_finite_vertices,
            non_finite_triangles=self.non_finite_triangles,
            skipped_geometries=self.skipped_geometries,
            warnings=tuple(self.warnings),
        )


def _check_suffix(name: str) -> str:
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MeshError(
            "unsupported_format",
            f"{name}: unsupported file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(SUPPORTED_SUFFIXES)}",
        )
    return suffix


def _too_large(name: str, size: int, limit: int) -> MeshError:
    return MeshError("too_large", f"{name}: {size:,} bytes exceed the limit of {limit:,}")


def _describe(error: BaseException) -> str:
    text = str(error).strip() or "no details"
    return f"{type(error).__name__}: {text[:300]}"


def _check_counts(name: str, triangles: int, vertices: int, limits: InputLimits) -> None:
    if triangles > limits.max_triangles:
        raise MeshError(
            "too_large",
            f"{name}: {triangles:,} triangles exceed the limit of {limits.max_triangles:,}",
        )
    if vertices > limits.max_vertices:
        raise MeshError(
            "too_large",
            f"{name}: {vertices:,} vertices exceed the limit of {limits.max_vertices:,}",
        )


def _check_totals(name: str, parts: list[MeshPart], limits: InputLimits) -> None:
    triangles = sum(part.triangle_count for part in parts)
    _check_counts(name, triangles, sum(part.vertex_count for part in parts), limits)


def _load_trimesh(
    name: str, data: bytes, file_type: str, resolver: _Resolver, **options: Any
) -> trimesh.Scene:
    """trimesh.load_scene from bytes; anything it raises becomes a MeshError."""
    try:
        scene = trimesh.load_scene(
            file_obj=io.BytesIO(data),
            file_type=file_type,
            resolver=resolver,
            process=False,  # keep vertices as stored: no merging, no reordering
            **options,
        )
    except MemoryError as error:
        raise MeshError("too_large", f"{name}: ran out of memory while reading") from error
    except Exception as error:
        raise MeshError(
            "bad_input", f"{name}: not a readable {file_type.upper()} file ({_describe(error)})"
        ) from error
    if resolver.error is not None:
        raise resolver.error
    return scene


def _check_geometry_counts(name: str, scene: trimesh.Scene, limits: InputLimits) -> None:
    """Fail before converting anything when the loaded geometry is over the limits."""
    triangles = 0
    for geometry in scene.geometry.values():
        if isinstance(geometry, trimesh.Trimesh):
            triangles += len(geometry.faces)
    if triangles > limits.max_triangles:
        raise MeshError(
            "too_large",
            f"{name}: {triangles:,} triangles exceed the limit of {limits.max_triangles:,}",
        )


@dataclass(frozen=True)
class _Material:
    name: str = ""
    base_color_rgba: Rgba = (1.0, 1.0, 1.0, 1.0)
    roughness: float = 0.9
    metallic: float = 0.0
    texture: Texture | None = None
    double_sided: bool = False


def _unit(value: object, default: float) -> float:
    """A material factor clamped into [0, 1]; missing or not finite → ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    number = float(value)
    if not math.isfinite(number):
        return default
    return min(max(number, 0.0), 1.0)


def _texture(
    label: str, original: bytes | None, decoded: Image.Image | None, notes: _Notes
) -> Texture | None:
    """A Texture from the original encoded bytes, which must be PNG, JPEG or WebP within
    the pixel limits (MeshError naming the texture otherwise: a PSD labelled PNG or a
    decompression bomb fails the asset, it is not quietly left out); without them, the
    image trimesh decoded (an OBJ's sidecar) re-encoded as PNG (lossless)."""
    if original is not None:
        return from_content(label, original)
    image = decoded
    if image is None:
        notes.warnings.append(f"texture {label!r} left out: not a readable image")
        return None
    try:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    except Exception as error:
        notes.warnings.append(f"texture {label!r} left out: {_describe(error)}")
        return None
    return Texture(name=label, data=buffer.getvalue(), mime_type="image/png")


def _file_normals(geometry: trimesh.Trimesh) -> NDArray[np.float64] | None:
    """The normals the file carried; trimesh computes them on access otherwise."""
    if "vertex_normals" not in geometry._cache:
        return None
    return np.asarray(geometry.vertex_normals, dtype=np.float64)


def _trimesh_uvs(geometry: trimesh.Trimesh) -> NDArray[np.float64] | None:
    """trimesh's UVs (v up, OpenGL/OBJ) in glTF convention (v down)."""
    uv = getattr(geometry.visual, "uv", None)
    if uv is None:
        return None
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim != 2 or uv.shape[0] != len(geometry.vertices) or uv.shape[1] < 2:
        return None
    return np.column_stack((uv[:, 0], 1.0 - uv[:, 1]))


def _trimesh_colors(geometry: trimesh.Trimesh) -> NDArray[np.uint8] | None:
    visual = geometry.visual
    if isinstance(visual, trimesh.visual.ColorVisuals):
        if visual.kind != "vertex":
            return None
        return _rgba8(np.asarray(visual.vertex_colors))
    attributes = getattr(visual, "vertex_attributes", None)
    colors = attributes.get("color") if attributes is not None else None
    if colors is None:
        return None
    return _rgba8(_normalized(np.asarray(colors)))


def _normalized(values: NDArray[Any]) -> NDArray[np.float64]:
    """Unsigned normalized integers or floats as float64 in their nominal range."""
    if values.dtype == np.uint8:
        return values.astype(np.float64) / 255.0
    if values.dtype == np.uint16:
        return values.astype(np.float64) / 65535.0
    return values.astype(np.float64)


def _rgba8(colors: NDArray[Any]) -> NDArray[np.uint8] | None:
    """(n, 3|4) colours → (n, 4) uint8; floats are taken as 0..1."""
    if colors.ndim != 2 or colors.shape[1] not in (3, 4):
        return None
    if colors.dtype != np.uint8:
        scaled = np.nan_to_num(colors.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        colors = np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)
    if colors.shape[1] == 3:
        colors = np.column_stack((colors, np.full(len(colors), 255, dtype=np.uint8)))
    return np.ascontiguousarray(colors, dtype=np.uint8)


def _srgb_to_linear(colors: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """OBJ and PLY vertex colours are display (sRGB) values; MeshPart holds linear ones.
    Alpha is linear already."""
    c = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    table = np.round(linear * 255.0).astype(np.uint8)
    out = colors.copy()
    out[:, :3] = table[colors[:, :3]]
    return out


def _to_enu(xyz: NDArray[Any]) -> NDArray[np.float32]:
    out = np.empty((len(xyz), 3), dtype=np.float32)
    out[:, 0] = xyz[:, 0]
    out[:, 1] = 0.0 - xyz[:, 2]  # not -z: that turns 0.0 into -0.0, which hashes differently
    out[:, 2] = xyz[:, 1]
    return out


def _make_part(
    file_name: str,
    name: str,
    *,
    vertices: NDArray[Any],
    faces: NDArray[Any],
    normals: NDArray[Any] | None,
    uvs: NDArray[Any] | None,
    colors: NDArray[np.uint8] | None,
    material: _Material,
    notes: _Notes,
) -> MeshPart | None:
    """A MeshPart from y-up arrays: checks indices, drops non-finite vertices with the
    triangles touching them, converts to ENU. None (and a note) when nothing remains."""
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise MeshError("bad_input", f"{file_name}: {name}: vertices are not (n, 3)")
    count = len(vertices)
    faces = faces.reshape(-1, 3) if faces.size else np.zeros((0, 3), dtype=np.int64)
    if len(faces) and (int(faces.min()) < 0 or int(faces.max()) >= count):
        raise MeshError(
            "bad_input",
            f"{file_name}: {name}: index out of range, a triangle points at vertex "
            f"{int(faces.max())} of {count}",
        )
    positions = _to_enu(vertices)  # float32 now: values beyond its range become inf
    keep: dict[str, NDArray[Any] | None] = {
        "normals": None if normals is None else _to_enu(np.asarray(normals)),
        "uvs": None if uvs is None else np.asarray(uvs, dtype=np.float32),
        "colors": colors,
    }
    for key, array in keep.items():
        if array is not None and len(array) != count:
            notes.warnings.append(f"{name}: {key} left out, they do not match the vertices")
            keep[key] = None
    finite = np.asarray(np.isfinite(positions).all(axis=1), dtype=bool)
    if not finite.all():
        touching = ~finite[faces].all(axis=1) if len(faces) else np.zeros(0, dtype=bool)
        notes.non_finite_vertices += int((~finite).sum())
        notes.non_finite_triangles += int(touching.sum())
        remap = np.cumsum(finite, dtype=np.int64) - 1
        faces = remap[faces[~touching]]
        positions = positions[finite]
        keep = {k: None if a is None else a[finite] for k, a in keep.items()}
    if len(faces) == 0:
        notes.skipped_geometries += 1
        notes.warnings.append(f"{name}: no usable triangles")
        return None
    normals_out = keep["normals"]
    if normals_out is not None and not np.isfinite(normals_out).all():
        notes.warnings.append(f"{name}: normals left out, some are NaN or infinite")
        normals_out = None
    texture = material.texture if keep["uvs"] is not None else None
    try:
        return MeshPart(
            name=name,
            positions_m=np.ascontiguousarray(positions),
            indices=np.ascontiguousarray(faces, dtype=np.uint32),
            normals=None if normals_out is None else np.ascontiguousarray(normals_out),
            uvs=None if keep["uvs"] is None else np.ascontiguousarray(keep["uvs"]),
            colors_rgba=None if keep["colors"] is None else np.ascontiguousarray(keep["colors"]),
            base_color_rgba=material.base_color_rgba,
            roughness=material.roughness,
            metallic=material.metallic,
            base_color_texture=texture,
            double_sided=material.double_sided,
            material_name=material.name,
        )
    except MeshError as error:
        raise MeshError("bad_input", f"{file_name}: {error.message}") from error


def _placed_geometry(name: str, scene: trimesh.Scene, notes: _Notes) -> set[str]:
    """Names of the geometry some scene-graph node draws; the rest is not converted."""
    graph = scene.graph
    placed = {str(graph[node][1]) for node in graph.nodes_geometry}
    unplaced = sum(
        1
        for geometry_name, geometry in scene.geometry.items()
        if isinstance(geometry, trimesh.Trimesh) and str(geometry_name) not in placed
    )
    if unplaced and not placed:
        raise MeshError("empty", f"{name}: no node of the scene places a mesh")
    if unplaced:
        notes.warnings.append(f"{unplaced} mesh(es) that no node of the scene places left out")
    return placed


def _placed_meshes(
    name: str, scene: trimesh.Scene, notes: _Notes, count_skipped: bool = True
) -> Iterator[tuple[str, trimesh.Trimesh]]:
    """(geometry name, mesh) for every triangle mesh a node draws; other geometry
    (points, paths) is counted as skipped unless the caller counted it already."""
    placed = _placed_geometry(name, scene, notes)
    for geometry_name, geometry in scene.geometry.items():
        if not isinstance(geometry, trimesh.Trimesh):
            notes.skipped_geometries += count_skipped
        elif str(geometry_name) in placed:
            yield str(geometry_name), geometry


def _placements(name: str, scene: trimesh.Scene, part_of: dict[str, int]) -> list[Placement]:
    """One placement per scene-graph node drawing a part."""
    found: list[tuple[int, NDArray[np.float64]]] = []
    graph = scene.graph
    for node in graph.nodes_geometry:
        matrix, geometry_name = graph[node]
        part = part_of.get(str(geometry_name))
        if part is not None:
            found.append((part, np.asarray(matrix, dtype=np.float64).reshape(4, 4)))
    return _enu_placements(name, found)


def _enu_placements(name: str, found: list[tuple[int, NDArray[np.float64]]]) -> list[Placement]:
    """Placements of (part, world matrix in the file's y-up frame) with the matrices taken
    to ENU, in a stable order: by part, then matrix (trimesh's node order and names, random
    for multi-primitive meshes, are not)."""
    keyed = []
    for part, matrix in found:
        with np.errstate(invalid="ignore"):  # inf · 0 in an overflowed matrix
            world = Y_UP_TO_ENU @ matrix @ Y_UP_TO_ENU.T
        if not np.isfinite(world).all():
            raise MeshError("bad_input", f"{name}: a node has a non-finite transform")
        keyed.append((part, tuple(world.ravel().tolist()), world))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [Placement(part=part, matrix=world) for part, _, world in keyed]
