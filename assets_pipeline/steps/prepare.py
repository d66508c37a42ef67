"""Prepare: bake single placements, merge parts by material, weld, fill in normals.

Parts placed once are baked into scene coordinates and merged with every other part of
the same material (one draw call per material). Parts placed several times stay one
mesh drawn with GPU instancing (EXT_mesh_gpu_instancing) instead of being copied.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import meshoptimizer
import numpy as np
import trimesh
from numpy.typing import NDArray

from assets_pipeline.mesh import MeshError, MeshPart, SourceScene, merge_parts, vertex_normals

CREASE_ANGLE_RAD = np.radians(30.0)  # sharper edges keep split (flat) normals


@dataclass(frozen=True, eq=False)
class Group:
    """One output mesh: a part and the matrices it is drawn with (identity: once)."""

    part: MeshPart
    matrices: list[NDArray[np.float64]]

    @property
    def instanced(self) -> bool:
        return len(self.matrices) > 1


def bake(part: MeshPart, matrix: NDArray[np.float64]) -> MeshPart:
    """The part with ``matrix`` applied: normals by the inverse transpose, and winding
    flipped when the matrix mirrors, so front faces stay front faces."""
    return bake_runs(part, [part.vertex_count], [part.triangle_count], [matrix])


# vertices transformed per pass: bounds the (n, 3, 3) per-vertex matrices to ~19 MB
_BAKE_CHUNK_VERTICES = 1 << 18


def bake_runs(
    part: MeshPart,
    vertex_counts: list[int],
    triangle_counts: list[int],
    matrices: list[NDArray[np.float64]],
) -> MeshPart:
    """``part`` made of consecutive runs of vertices and triangles (merged parts, in
    order), each run baked with its own matrix in one vectorised pass: a city of 1,500
    buildings costs one einsum, not 1,500 small matrix products."""
    stacked = np.stack(matrices).astype(np.float64)
    if np.allclose(stacked, np.eye(4)):
        return part  # placed where it was modelled (a terrain, most single-mesh files)
    linear, shift = stacked[:, :3, :3], stacked[:, :3, 3]
    runs = np.arange(len(matrices))
    owner = np.repeat(runs, vertex_counts)  # the run of every vertex
    positions = part.positions_m.astype(np.float64)
    normals = None if part.normals is None else part.normals.astype(np.float64)
    determinants = np.linalg.det(linear)
    # normals take the inverse transpose: n' = n @ inv(L) as a row vector. A node scaled to
    # nothing (glTF allows it, to hide a mesh) has no inverse: its normals become zero and
    # its triangles zero-area ones, which sanitize drops.
    inverse = None
    if normals is not None:
        singular = np.abs(determinants) < 1e-300
        inverse = np.linalg.inv(np.where(singular[:, None, None], np.eye(3), linear))
        inverse[singular] = 0.0
    for start in range(0, len(owner), _BAKE_CHUNK_VERTICES):
        rows = slice(start, start + _BAKE_CHUNK_VERTICES)
        own = owner[rows]
        positions[rows] = np.einsum("nij,nj->ni", linear[own], positions[rows]) + shift[own]
        if normals is not None and inverse is not None:
            normals[rows] = np.einsum("nj,nji->ni", normals[rows], inverse[own])
    if normals is not None:
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    indices = part.indices
    mirrors = determinants < 0
    if mirrors.any():
        flip = mirrors[np.repeat(runs, triangle_counts)]
        indices = indices.copy()
        indices[flip] = indices[flip][:, ::-1]
    return replace(
        part,
        positions_m=positions.astype(np.float32),
        indices=np.ascontiguousarray(indices),
        normals=None if normals is None else normals.astype(np.float32),
    )


def with_normals(part: MeshPart) -> MeshPart:
    """Parts without normals get smooth normals that stay split at creases (> 30°)."""
    if part.normals is not None:
        return part
    if part.uvs is not None or part.colors_rgba is not None:
        # splitting would have to carry the other attributes along; smooth is the safe choice
        return replace(part, normals=vertex_normals(part.positions_m, part.indices))
    part = weld(part)  # STL and friends repeat every corner: share them first
    mesh = trimesh.Trimesh(part.positions_m, part.indices, process=False)
    shaded = trimesh.graph.smooth_shade(mesh, angle=CREASE_ANGLE_RAD, facet_minarea=None)
    return replace(
        part,
        positions_m=np.asarray(shaded.vertices, dtype=np.float32),
        indices=np.asarray(shaded.faces, dtype=np.uint32),
        normals=np.asarray(shaded.vertex_normals, dtype=np.float32),
    )


def weld(part: MeshPart) -> MeshPart:
    """Merge vertices whose every attribute is bit-identical (meshoptimizer's remap)."""
    streams = [part.positions_m.view(np.uint8).reshape(part.vertex_count, -1)]
    for extra in (part.normals, part.uvs, part.colors_rgba):
        if extra is not None:
            streams.append(
                np.ascontiguousarray(extra).view(np.uint8).reshape(part.vertex_count, -1)
            )
    interleaved = np.ascontiguousarray(np.concatenate(streams, axis=1))
    pad = -interleaved.shape[1] % 4  # the remap works on whole 4-byte words
    if pad:
        interleaved = np.pad(interleaved, ((0, 0), (0, pad)))
    remap = np.zeros(part.vertex_count, dtype=np.uint32)
    flat_indices = np.ascontiguousarray(part.indices.reshape(-1))
    unique = meshoptimizer.generate_vertex_remap(
        remap,
        flat_indices,
        index_count=len(flat_indices),
        vertices=interleaved,
        vertex_count=part.vertex_count,
        vertex_size=interleaved.shape[1],
    )
    if unique == part.vertex_count:
        return part
    first = np.zeros(unique, dtype=np.int64)
    first[remap[::-1]] = np.arange(part.vertex_count)[::-1]  # a source vertex per new slot
    return part.with_vertices(first, remap[part.indices])


def _same_attributes(parts: list[MeshPart]) -> bool:
    def layout(p: MeshPart) -> tuple[bool, bool, bool]:
        return (p.normals is not None, p.uvs is not None, p.colors_rgba is not None)

    return len({layout(p) for p in parts}) == 1


def group_scene(scene: SourceScene) -> list[Group]:
    """Instanced parts stay instanced; everything else is baked and merged by material."""
    if not scene.placements:
        raise MeshError("empty_mesh", "the scene places no meshes")
    placed: dict[int, list[NDArray[np.float64]]] = defaultdict(list)
    for placement in scene.placements:
        placed[placement.part].append(placement.matrix)
    groups: list[Group] = []
    singles: dict[tuple[object, ...], list[tuple[MeshPart, NDArray[np.float64]]]]
    singles = defaultdict(list)
    for index, matrices in sorted(placed.items()):
        part = with_normals(scene.parts[index])
        if len(matrices) > 1:
            groups.append(Group(weld(part), matrices))
        else:
            singles[part.material_key()].append((part, matrices[0]))
    for placed_once in singles.values():
        parts = [part for part, _ in placed_once]
        # merged parts must carry the same attribute streams; fill the gaps first
        if not _same_attributes(parts):
            parts = [_complete(p) for p in parts]
        merged = merge_parts(parts, parts[0].material_name or parts[0].name)
        baked = bake_runs(
            merged,
            [p.vertex_count for p in parts],
            [p.triangle_count for p in parts],
            [matrix for _, matrix in placed_once],
        )
        groups.append(Group(weld(baked), [np.eye(4)]))
    return groups


def _complete(part: MeshPart) -> MeshPart:
    n = part.vertex_count
    return replace(
        part,
        uvs=part.uvs if part.uvs is not None else np.zeros((n, 2), dtype=np.float32),
        colors_rgba=(
            part.colors_rgba if part.colors_rgba is not None else np.full((n, 4), 255, np.uint8)
        ),
    )
