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
    if np.allclose(matrix, np.eye(4)):
        return part
    p = part.positions_m.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
    indices = part.indices
    linear = matrix[:3, :3]
    if np.linalg.det(linear) < 0:
        indices = np.ascontiguousarray(indices[:, ::-1])
    normals = part.normals
    if normals is not None:
        n = normals.astype(np.float64) @ np.linalg.inv(linear)  # == inv(linear).T applied
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        normals = n.astype(np.float32)
    return replace(part, positions_m=p.astype(np.float32), indices=indices, normals=normals)


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
    singles: dict[tuple[object, ...], list[MeshPart]] = defaultdict(list)
    for index, matrices in sorted(placed.items()):
        part = with_normals(scene.parts[index])
        if len(matrices) > 1:
            groups.append(Group(weld(part), matrices))
        else:
            singles[part.material_key()].append(bake(part, matrices[0]))
    for parts in singles.values():
        # merged parts must carry the same attribute streams; fill the gaps first
        if not _same_attributes(parts):
            parts = [_complete(p) for p in parts]
        merged = merge_parts(parts, parts[0].material_name or parts[0].name)
        groups.append(Group(weld(merged), [np.eye(4)]))
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
