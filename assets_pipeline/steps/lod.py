"""Levels of detail: error-bounded simplification, one chain per mesh.

General meshes go through meshoptimizer's attribute-aware simplifier (it keeps UV and
normal seams: vertices that share a position but not their attributes move together).
Where no attribute has to survive (no UVs or colours; normals are rebuilt), quadric
decimation (Garland–Heckbert, fast-simplification) competes for each level at the same
triangle count, and the one with the lower measured surface error is kept: quadrics move
vertices to optimal positions and often win on smooth organic shapes, meshopt keeps the
original vertices and prunes small pieces, which wins on architecture.
Regular-grid terrain gets its own path: each level is the grid sampled at half the
resolution, so it stays a grid — which is what keeps it small after compression (free
simplification of a grid scatters vertices and costs more bytes than it saves).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import fast_simplification
import meshoptimizer
import numpy as np
from numpy.typing import NDArray

from assets_pipeline._meshopt import simplify_with_attributes
from assets_pipeline.decode import surface_distance
from assets_pipeline.mesh import MeshPart
from assets_pipeline.steps.prepare import with_normals

Simplifier = Literal["source", "meshopt", "quadric", "grid"]
MIN_LEVEL_TRIANGLES = 64
LEVEL_RATIO = 0.5  # each level keeps about half the triangles of the one before
MIN_PROGRESS = 0.9  # a level must remove at least 10% of its parent's triangles
FIRST_ERROR_BOUND = 0.002  # relative to the mesh extent; doubled until a level pays off
MAX_ERROR_BOUND = 0.25
NORMAL_WEIGHT = 0.5  # attribute weights relative to position error (meshopt convention)
UV_WEIGHT = 1.0
COLOR_WEIGHT = 8.0  # colour boundaries (coastlines) outweigh the geometric error
COMPARE_SAMPLES = 10_000  # per direction, to rank two candidates (the chain is measured later)


@dataclass(frozen=True, eq=False)
class Level:
    part: MeshPart
    simplifier: Simplifier
    simplifier_error: float  # the simplifier's own estimate, relative to the mesh extent


def simplify_meshopt(
    part: MeshPart,
    target_triangles: int,
    error_bound: float,
    options: int = meshoptimizer.SIMPLIFY_PRUNE,
) -> tuple[MeshPart | None, float]:
    """Simplify towards ``target_triangles`` without exceeding ``error_bound`` (relative
    to the mesh extent). By default small disconnected pieces below the bound are pruned
    (a distant city loses its kiosks before its towers lose their shape); tiles pass
    SIMPLIFY_LOCK_BORDER so that neighbours keep meeting. None if nothing remains."""
    positions = np.ascontiguousarray(part.positions_m, dtype=np.float32)
    attributes: list[NDArray[np.float32]] = []
    weights: list[float] = []
    if part.normals is not None:
        attributes.append(part.normals)
        weights += [NORMAL_WEIGHT] * 3
    if part.uvs is not None:
        attributes.append(part.uvs)
        weights += [UV_WEIGHT] * 2
    if part.colors_rgba is not None:
        # without them a coastline of vertex colours (sand next to sea) collapses into
        # kilometre-long slivers that smear sand over the water
        attributes.append(part.colors_rgba[:, :3].astype(np.float32) / 255.0)
        weights += [COLOR_WEIGHT] * 3
    flat = np.ascontiguousarray(part.indices.reshape(-1), dtype=np.uint32)
    # the triangle target bounds each level; its geometric error is measured afterwards
    if attributes:
        packed = np.concatenate(attributes, axis=1).astype(np.float32)
        kept, error = simplify_with_attributes(
            flat,
            positions,
            packed,
            np.array(weights, np.float32),
            target_triangles * 3,
            error_bound,
            options,
        )
    else:
        destination = np.zeros_like(flat)
        result = np.zeros(1, dtype=np.float32)
        count = meshoptimizer.simplify(
            destination,
            flat,
            positions,
            index_count=len(flat),
            vertex_count=part.vertex_count,
            target_index_count=target_triangles * 3,
            target_error=error_bound,
            options=options,
            result_error=result,
        )
        kept, error = destination[:count], float(result[0])
    if len(kept) == 0:
        return None, error
    return part.keeping(kept.reshape(-1, 3)), error


def simplify_quadric(part: MeshPart, target_triangles: int) -> MeshPart | None:
    """Quadric edge-collapse decimation to ``target_triangles``. Vertices move to their
    optimal positions, so only parts without UVs or colours qualify; normals, if the part
    had them, are rebuilt with the crease rule. None if it cannot help."""
    if part.uvs is not None or part.colors_rgba is not None:
        return None
    points, faces = fast_simplification.simplify(
        part.positions_m.astype(np.float64),
        part.indices.astype(np.int32),
        target_count=target_triangles,
    )
    if len(faces) == 0 or len(faces) >= part.triangle_count:
        return None
    simplified = replace(
        part,
        positions_m=np.ascontiguousarray(points, dtype=np.float32),
        indices=np.ascontiguousarray(faces, dtype=np.uint32),
        normals=None,
    )
    return with_normals(simplified) if part.normals is not None else simplified


def _closer_to(source: MeshPart, a: Level, b: Level) -> Level:
    """The candidate whose surface is nearer the source (mean symmetric distance)."""

    def error(level: Level) -> float:
        mean, _ = surface_distance(
            source.positions_m,
            source.indices,
            level.part.positions_m,
            level.part.indices,
            samples=COMPARE_SAMPLES,
        )
        return mean

    return a if error(a) <= error(b) else b


def grid_shape(part: MeshPart) -> tuple[int, int, NDArray[np.int64]] | None:
    """(rows, cols, vertex index per grid cell) when the part is a height field on a
    rectilinear grid of unique (east, north) samples; None otherwise."""
    p = part.positions_m
    east, col = np.unique(p[:, 0], return_inverse=True)
    north, row = np.unique(p[:, 1], return_inverse=True)
    rows, cols = len(north), len(east)
    if rows < 3 or cols < 3 or rows * cols != part.vertex_count:
        return None
    cell = row.reshape(-1) * cols + col.reshape(-1)
    grid = np.full(rows * cols, -1, dtype=np.int64)
    grid[cell] = np.arange(part.vertex_count)
    if (grid < 0).any():  # two vertices in one cell: not a height field
        return None
    if part.triangle_count != 2 * (rows - 1) * (cols - 1):
        return None
    return rows, cols, grid.reshape(rows, cols)


def _keep(n: int, step: int) -> NDArray[np.int64]:
    """Every ``step``-th sample, always keeping both edges (borders stay exact)."""
    kept = np.arange(0, n, step)
    return kept if kept[-1] == n - 1 else np.append(kept, n - 1)


def grid_level(part: MeshPart, grid: NDArray[np.int64], step: int) -> MeshPart:
    rows = _keep(grid.shape[0], step)
    cols = _keep(grid.shape[1], step)
    source = grid[np.ix_(rows, cols)].reshape(-1)
    r, c = len(rows), len(cols)
    v00 = (np.arange(r - 1)[:, None] * c + np.arange(c - 1)[None, :]).reshape(-1)
    v01, v10 = v00 + 1, v00 + c
    v11 = v10 + 1
    indices = np.concatenate(
        [np.stack([v00, v01, v11], axis=1), np.stack([v00, v11, v10], axis=1)]
    ).astype(np.uint32)

    level = part.with_vertices(source, indices)
    # keep the source's winding: compare one face normal's up component
    if _faces_up(part) != _faces_up(level):
        level = replace(level, indices=np.ascontiguousarray(level.indices[:, ::-1]))
    return level


def _faces_up(part: MeshPart) -> bool:
    tri = part.positions_m[part.indices[:64]].astype(np.float64)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return bool(normal[:, 2].sum() >= 0)


def lod_chain(
    part: MeshPart, *, max_levels: int = 5, min_triangles: int = MIN_LEVEL_TRIANGLES
) -> list[Level]:
    """Level 0 is the part itself; each next level has about half the triangles."""
    levels = [Level(part, "source", 0.0)]
    grid = grid_shape(part)
    error_bound = FIRST_ERROR_BOUND
    while len(levels) < max_levels:
        parent = levels[-1].part
        target = int(parent.triangle_count * LEVEL_RATIO)
        if target < min_triangles:
            break
        if grid is not None:
            step = 2 ** len(levels)
            coarser = grid_level(part, grid[2], step)
            if coarser.triangle_count >= parent.triangle_count or coarser.triangle_count < 2:
                break
            levels.append(Level(coarser, "grid", 0.0))
            continue
        found = None
        while error_bound <= MAX_ERROR_BOUND:
            child, error = simplify_meshopt(parent, target, error_bound)
            if child is not None and child.triangle_count <= parent.triangle_count * MIN_PROGRESS:
                found = Level(child, "meshopt", error)
                break
            error_bound *= 2.0  # allow more error until a level is worth sending
        if found is None:
            break  # nothing left to remove within the bound: the chain ends here
        rival = simplify_quadric(parent, found.part.triangle_count)
        if rival is not None and rival.triangle_count <= found.part.triangle_count:
            found = _closer_to(part, found, Level(rival, "quadric", found.simplifier_error))
        levels.append(found)
    return levels
