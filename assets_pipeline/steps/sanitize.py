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
    repeated = (tri[:, 0] == tri[:, 1]) | (tri[:, 1] == tri[:, 2]) | (tri[:, 0] == tri[:, 2])
    p = part.positions_m.astype(np.float64)
    corners = p[tri]
    u = corners[:, 1] - corners[:, 0]
    v = corners[:, 2] - corners[:, 0]
    # |u × v| written out: np.cross costs more than the arithmetic on small parts
    doubled_area = np.sqrt(
        (u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1]) ** 2
        + (u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2]) ** 2
        + (u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]) ** 2
    )
    # zero area relative to the mesh scale: collinear or coincident corners
    scale = float(np.ptp(p, axis=0).max()) or 1.0
    flat = doubled_area <= (scale * 1e-9) ** 2
    degenerate = repeated | flat
    # duplicates: the same three vertices in the same cyclic order (opposite winding is a
    # legitimate double-sided sheet, so it stays)
    rolled = np.where(
        (tri[:, [0]] <= tri[:, [1]]) & (tri[:, [0]] <= tri[:, [2]]),
        tri,
        np.where(tri[:, [1]] <= tri[:, [2]], tri[:, [1, 2, 0]], tri[:, [2, 0, 1]]),
    )
    _, first = np.unique(_row_keys(rolled, part.vertex_count), return_index=True)
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


def _row_keys(rows: NDArray[np.uint32], vertex_count: int) -> NDArray[Any]:
    """One sortable scalar per index triple: equal rows, equal keys. Packing three indices
    into an int64 makes np.unique several times faster than ``unique(axis=0)``."""
    if vertex_count < 1 << 21:
        r = rows.astype(np.int64)
        return (r[:, 0] << 42) | (r[:, 1] << 21) | r[:, 2]
    contiguous = np.ascontiguousarray(rows, dtype=np.uint32)
    return contiguous.view(np.dtype((np.void, 12))).ravel()
