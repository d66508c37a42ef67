"""Sanitize: drop what no renderer can use, enforce limits before anything expensive runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assets_pipeline.mesh import MeshError, MeshPart


@dataclass(frozen=True)
class MeshLimits:
    max_triangles: int = 10_000_000
    max_vertices: int = 10_000_000


@dataclass(frozen=True)
class SanitizeReport:
    non_finite_vertices: int = 0
    degenerate_triangles: int = 0
    duplicate_triangles: int = 0
    unreferenced_vertices: int = 0

    def __add__(self, other: SanitizeReport) -> SanitizeReport:
        return SanitizeReport(
            self.non_finite_vertices + other.non_finite_vertices,
            self.degenerate_triangles + other.degenerate_triangles,
            self.duplicate_triangles + other.duplicate_triangles,
            self.unreferenced_vertices + other.unreferenced_vertices,
        )


def check_limits(part: MeshPart, limits: MeshLimits) -> None:
    if part.triangle_count > limits.max_triangles:
        raise MeshError(
            "too_large",
            f"{part.name}: {part.triangle_count:,} triangles exceed the limit of "
            f"{limits.max_triangles:,}",
        )
    if part.vertex_count > limits.max_vertices:
        raise MeshError(
            "too_large",
            f"{part.name}: {part.vertex_count:,} vertices exceed the limit of "
            f"{limits.max_vertices:,}",
        )


def _compact(part: MeshPart, keep_triangles: NDArray[np.bool_]) -> tuple[MeshPart, int]:
    """Keep the given triangles and only the vertices they use (order preserved)."""
    indices = part.indices[keep_triangles]
    if len(indices) == 0:
        raise MeshError("empty_mesh", f"{part.name}: no usable triangles remain")
    if len(indices) == part.triangle_count:
        used = np.zeros(part.vertex_count, dtype=bool)
        used[indices.ravel()] = True
        if used.all():
            return part, 0  # the common case, a clean part: no copy
    cleaned = part.keeping(indices)
    return cleaned, part.vertex_count - cleaned.vertex_count


def sanitize(part: MeshPart, limits: MeshLimits | None = None) -> tuple[MeshPart, SanitizeReport]:
    """Drop degenerate (repeated index or zero area) and duplicate triangles and unused
    vertices; non-finite normals/uvs are repaired (normals recomputed later, uvs zeroed).

    Non-finite positions cannot reach here (MeshPart refuses them); readers drop the
    triangles that touch them and report the count.
    """
    check_limits(part, limits or MeshLimits())
    tri = part.indices
    a, b, c = (np.ascontiguousarray(tri[:, k]) for k in range(3))
    repeated = (a == b) | (b == c) | (a == c)
    # |u × v|² from per-axis columns: contiguous 1-D gathers and arithmetic, several times
    # faster on large meshes than slicing an (m, 3, 3) array of corners
    x, y, z = (np.ascontiguousarray(part.positions_m[:, k], dtype=np.float64) for k in range(3))
    ux, uy, uz = x[b] - x[a], y[b] - y[a], z[b] - z[a]
    vx, vy, vz = x[c] - x[a], y[c] - y[a], z[c] - z[a]
    doubled_area_sq = (uy * vz - uz * vy) ** 2 + (uz * vx - ux * vz) ** 2 + (ux * vy - uy * vx) ** 2
    # zero area relative to the mesh scale: collinear or coincident corners
    scale = max(float(np.ptp(x)), float(np.ptp(y)), float(np.ptp(z))) or 1.0
    flat = doubled_area_sq <= (scale * 1e-9) ** 4
    degenerate = repeated | flat
    # duplicates: the same three vertices in the same cyclic order (opposite winding is a
    # legitimate double-sided sheet, so it stays)
    _, first = np.unique(_cyclic_keys(a, b, c, part.vertex_count), return_index=True)
    unique = np.zeros(len(tri), dtype=bool)
    unique[first] = True
    duplicate = ~unique & ~degenerate
    keep = ~degenerate & unique
    cleaned, unreferenced = _compact(part, keep)
    if cleaned.uvs is not None and not np.isfinite(cleaned.uvs).all():
        cleaned = replace(cleaned, uvs=np.nan_to_num(cleaned.uvs, nan=0.0, posinf=0.0, neginf=0.0))
    report = SanitizeReport(
        degenerate_triangles=int(degenerate.sum()),
        duplicate_triangles=int(duplicate.sum()),
        unreferenced_vertices=unreferenced,
    )
    return cleaned, report


def _cyclic_keys(
    a: NDArray[np.uint32], b: NDArray[np.uint32], c: NDArray[np.uint32], vertex_count: int
) -> NDArray[Any]:
    """One sortable scalar per triangle, equal for triangles with the same corners in the
    same cyclic order: the sorted corners plus the parity of their order (a rotation
    keeps it, the opposite winding flips it). Packing into an int64 makes np.unique
    several times faster than ``unique(axis=0)``; huge meshes fall back to 13-byte rows."""
    lo = np.minimum(np.minimum(a, b), c).astype(np.int64)
    hi = np.maximum(np.maximum(a, b), c).astype(np.int64)
    mid = a.astype(np.int64) + b + c - lo - hi
    parity = ((a > b).astype(np.int64) + (a > c) + (b > c)) & 1
    bits = max(1, int(vertex_count - 1).bit_length())
    if 3 * bits + 1 <= 63:
        return (((lo << (2 * bits)) | (mid << bits) | hi) << 1) | parity
    rows = np.column_stack((lo, mid, hi, parity)).astype(np.uint32)
    return np.ascontiguousarray(rows).view(np.dtype((np.void, 16))).ravel()
