"""The pipeline's in-memory mesh: one primitive with one material, in ENU metres."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

Rgba = tuple[float, float, float, float]
Matrix4 = NDArray[np.float64]  # (4, 4), column vectors: world = M @ [x, y, z, 1]


@dataclass(frozen=True, eq=False)
class Texture:
    """An encoded source image (PNG, JPEG or WebP bytes), decoded only by textures.py."""

    name: str
    data: bytes
    mime_type: str  # image/png | image/jpeg | image/webp


class MeshError(ValueError):
    """A mesh the pipeline refuses, with a stable ``code`` a caller can switch on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, eq=False)
class MeshPart:
    """One triangle primitive.

    positions_m: (n, 3) float32, scene ENU metres (east, north, up).
    indices: (m, 3) uint32, counter-clockwise seen from the front face.
    normals: (n, 3) float32 unit vectors in ENU, or None.
    uvs: (n, 2) float32, glTF convention (v grows downwards), or None.
    colors_rgba: (n, 4) uint8 linear vertex colours, or None.
    """

    name: str
    positions_m: NDArray[np.float32]
    indices: NDArray[np.uint32]
    normals: NDArray[np.float32] | None = None
    uvs: NDArray[np.float32] | None = None
    colors_rgba: NDArray[np.uint8] | None = None
    base_color_rgba: Rgba = (1.0, 1.0, 1.0, 1.0)
    roughness: float = 0.9
    metallic: float = 0.0
    base_color_texture: Texture | None = None  # sampled with uvs
    double_sided: bool = False
    material_name: str = ""

    def material_key(self) -> tuple[object, ...]:
        """Parts with equal keys can share one material (and be merged into one primitive)."""
        texture = self.base_color_texture
        return (
            self.base_color_rgba,
            self.roughness,
            self.metallic,
            None if texture is None else hash(texture.data),
            self.double_sided,
        )

    def __post_init__(self) -> None:
        n = _rows(self.positions_m, 3, np.float32, "positions_m")
        if n == 0:
            raise MeshError("empty_mesh", f"{self.name}: has no vertices")
        if not np.isfinite(self.positions_m).all():
            raise MeshError("non_finite", f"{self.name}: positions_m holds NaN or infinity")
        m = _rows(self.indices, 3, np.uint32, "indices")
        if m == 0:
            raise MeshError("empty_mesh", f"{self.name}: has no triangles")
        if int(self.indices.max()) >= n:
            raise MeshError("index_out_of_range", f"{self.name}: an index points past {n} vertices")
        if self.normals is not None:
            _same_rows(self.normals, n, 3, np.float32, "normals")
            if not np.isfinite(self.normals).all():
                raise MeshError("non_finite", f"{self.name}: normals hold NaN or infinity")
        if self.uvs is not None:
            _same_rows(self.uvs, n, 2, np.float32, "uvs")
        if self.colors_rgba is not None:
            _same_rows(self.colors_rgba, n, 4, np.uint8, "colors_rgba")
        for channel in (*self.base_color_rgba, self.roughness, self.metallic):
            if not 0.0 <= channel <= 1.0:
                raise MeshError("bad_material", f"{self.name}: material factors must be in [0, 1]")
        if self.base_color_texture is not None and self.uvs is None:
            raise MeshError("bad_material", f"{self.name}: a texture needs uvs")

    def with_vertices(self, source: NDArray[np.integer], indices: NDArray[np.integer]) -> MeshPart:
        """The part rebuilt from a vertex selection: ``source`` names the old vertex of
        each new slot, ``indices`` (m, 3) are triangles over the new slots. Every
        attribute stream follows the positions, so no step can drop one by accident."""
        return replace(
            self,
            positions_m=_pick(self.positions_m, source),
            indices=np.ascontiguousarray(indices, dtype=np.uint32).reshape(-1, 3),
            normals=_pick_optional(self.normals, source),
            uvs=_pick_optional(self.uvs, source),
            colors_rgba=_pick_optional(self.colors_rgba, source),
        )

    def keeping(self, indices: NDArray[np.integer]) -> MeshPart:
        """Only ``indices`` (m, 3) and the vertices they use, in their original order."""
        used = np.zeros(self.vertex_count, dtype=bool)
        used[indices.reshape(-1)] = True
        remap = np.cumsum(used, dtype=np.int64) - 1
        return self.with_vertices(np.nonzero(used)[0], remap[indices])

    @property
    def vertex_count(self) -> int:
        return int(self.positions_m.shape[0])

    @property
    def triangle_count(self) -> int:
        return int(self.indices.shape[0])


def _rows(array: NDArray[np.generic], width: int, dtype: type[np.generic], name: str) -> int:
    if array.ndim != 2 or array.shape[1] != width or array.dtype != dtype:
        raise MeshError(
            "bad_array",
            f"{name} must be an (n, {width}) {np.dtype(dtype).name} array, "
            f"got {array.shape} {array.dtype}",
        )
    return int(array.shape[0])


def _same_rows(
    array: NDArray[np.generic], n: int, width: int, dtype: type[np.generic], name: str
) -> None:
    if _rows(array, width, dtype, name) != n:
        raise MeshError("bad_array", f"{name} has {array.shape[0]} rows for {n} vertices")


def vertex_normals(
    positions_m: NDArray[np.float32], indices: NDArray[np.uint32]
) -> NDArray[np.float32]:
    """Area-weighted smooth normals, (n, 3) float32; isolated vertices get +up."""
    p = positions_m.astype(np.float64)
    tri = p[indices]
    face = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 × area
    sums = np.zeros_like(p)
    for corner in range(3):
        np.add.at(sums, indices[:, corner], face)
    length = np.linalg.norm(sums, axis=1, keepdims=True)
    up = np.array([0.0, 0.0, 1.0])
    normals = np.where(length > 1e-12, sums / np.maximum(length, 1e-12), up)
    return normals.astype(np.float32)


@dataclass(frozen=True, eq=False)
class Placement:
    """One placement of a part in the scene: ``matrix`` maps the part's ENU metres to the
    scene's. A part placed many times is drawn with GPU instancing, not copied."""

    part: int  # index into SourceScene.parts
    matrix: Matrix4


@dataclass(frozen=True, eq=False)
class SourceScene:
    """What a reader produces and the pipeline consumes: parts and where they stand."""

    parts: list[MeshPart]
    placements: list[Placement]

    @property
    def triangle_count(self) -> int:
        """Triangles drawn (instances counted), as a renderer sees them."""
        return sum(self.parts[p.part].triangle_count for p in self.placements)


Stream = TypeVar("Stream", bound=np.generic)


def _pick(array: NDArray[Stream], source: NDArray[np.integer]) -> NDArray[Stream]:
    return np.ascontiguousarray(array[source])


def _pick_optional(
    array: NDArray[Stream] | None, source: NDArray[np.integer]
) -> NDArray[Stream] | None:
    return None if array is None else _pick(array, source)


def _stack(arrays: list[NDArray[Stream] | None]) -> NDArray[Stream] | None:
    """Concatenated streams, or None when any part lacks the stream."""
    present = [a for a in arrays if a is not None]
    return np.concatenate(present) if len(present) == len(arrays) else None


def merge_parts(parts: list[MeshPart], name: str) -> MeshPart:
    """Concatenate parts that share the first part's material into one primitive."""
    if not parts:
        raise MeshError("empty_mesh", f"{name}: nothing to merge")
    offsets = np.cumsum([0] + [p.vertex_count for p in parts[:-1]]).astype(np.uint32)

    first = parts[0]
    return MeshPart(
        name=name,
        positions_m=np.concatenate([p.positions_m for p in parts]),
        indices=np.concatenate([p.indices + o for p, o in zip(parts, offsets, strict=True)]),
        normals=_stack([p.normals for p in parts]),
        uvs=_stack([p.uvs for p in parts]),
        colors_rgba=_stack([p.colors_rgba for p in parts]),
        base_color_rgba=first.base_color_rgba,
        roughness=first.roughness,
        metallic=first.metallic,
        base_color_texture=first.base_color_texture,
        double_sided=first.double_sided,
        material_name=first.material_name,
    )
