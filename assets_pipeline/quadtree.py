"""Large layers as a quadtree of tiles: 3D Tiles 1.1 with REPLACE refinement (HLOD).

A terrain or a city is too big for one file at full detail. The layer is split on the
ground plane into quadrants until a tile holds at most ``max_leaf_triangles``; each
triangle belongs to exactly one leaf (by its centroid), so the leaves together are the
source, nothing lost and nothing twice. Every inner tile carries a simplified version of
everything below it (about ``max_leaf_triangles`` triangles), made from the full-detail
source with the borders of its piece locked, so tiles of one level still meet. A client
draws a tile and refines into its children when the tile's error would show.

Each tile's ``geometricError`` is measured: the p99 symmetric surface distance between
its decoded GLB and the full-detail source it stands for (forced non-increasing towards
the leaves; leaves, which are the source, have 0). Bounding boxes are the decoded
content's extent grown to enclose the children. The root transform is ENU → ECEF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import meshoptimizer
import numpy as np
from numpy.typing import NDArray

from assets_pipeline._blas import one_blas_thread
from assets_pipeline.decode import decode_glb, surface_distance
from assets_pipeline.gltf_out import (
    Codec,
    EncodeOptions,
    OutputMesh,
    enu_points,
    gltf_points,
    write_compressed_glb,
)
from assets_pipeline.mesh import MeshError, MeshPart, SourceScene
from assets_pipeline.steps.lod import MAX_ERROR_BOUND, simplify_meshopt
from assets_pipeline.steps.optimize import optimize_order
from assets_pipeline.steps.prepare import bake, group_scene
from assets_pipeline.steps.sanitize import sanitize
from assets_pipeline.textures import EncodedTexture, content_name, encode_texture
from assets_pipeline.tiles import box_volume, enu_to_ecef

MEASURE_SAMPLES = 20_000  # per direction, per tile
IDENTITY = np.eye(4)


@dataclass(frozen=True)
class QuadtreeOptions:
    max_leaf_triangles: int = 50_000
    max_depth: int = 8
    profile: str = "desktop"
    codec: Codec = "meshopt"
    position_bits: int = 14


@dataclass
class _Node:
    rect: tuple[float, float, float, float]  # (west, south, east, north) in ENU metres
    parts: list[MeshPart]  # full detail, world ENU
    children: list[_Node] = field(default_factory=list)

    @property
    def triangles(self) -> int:
        return sum(p.triangle_count for p in self.parts)


@dataclass
class QuadtreeTileset:
    tileset: dict[str, Any]
    files: dict[str, bytes]  # content-addressed GLBs and textures the tileset refers to
    tiles: int
    depth: int


@one_blas_thread
def build_quadtree(
    scene: SourceScene, origin: tuple[float, float, float], options: QuadtreeOptions | None = None
) -> QuadtreeTileset:
    """Tile ``scene`` (ENU metres around ``origin``, WGS84 lat°, lon°, height m)."""
    options = options or QuadtreeOptions()
    scene = replace(scene, parts=[sanitize(part)[0] for part in scene.parts])
    parts = _world_parts(scene)
    if not parts:
        raise MeshError("empty_mesh", "nothing to tile")
    low = np.min([p.positions_m.min(axis=0) for p in parts], axis=0)
    high = np.max([p.positions_m.max(axis=0) for p in parts], axis=0)
    root = _split(parts, (float(low[0]), float(low[1]), float(high[0]), float(high[1])), 0, options)
    textures: dict[int, EncodedTexture] = {}
    files: dict[str, bytes] = {}
    counter = {"tiles": 0, "depth": 0}
    tile = _tile(root, 0, options, textures, files, counter)
    tile["transform"] = enu_to_ecef(*origin).T.reshape(-1).tolist()
    box = tile["boundingVolume"]["box"]
    diagonal = 2.0 * math.sqrt(box[3] ** 2 + box[7] ** 2 + box[11] ** 2)
    tileset = {
        "asset": {"version": "1.1", "generator": "twinland assets_pipeline"},
        "geometricError": max(diagonal, tile["geometricError"]),
        "root": tile,
    }
    return QuadtreeTileset(tileset, files, counter["tiles"], counter["depth"])


def _world_parts(scene: SourceScene) -> list[MeshPart]:
    """Every group placed in the world: tiles cut through instances, so they are baked."""
    parts = []
    for group in group_scene(scene):
        for matrix in group.matrices:
            parts.append(bake(group.part, matrix))
    return parts


def _split(
    parts: list[MeshPart],
    rect: tuple[float, float, float, float],
    depth: int,
    options: QuadtreeOptions,
) -> _Node:
    node = _Node(rect, parts)
    if node.triangles <= options.max_leaf_triangles or depth >= options.max_depth:
        return node
    west, south, east, north = rect
    mid_e, mid_n = (west + east) / 2, (south + north) / 2
    quadrants = [
        (west, south, mid_e, mid_n),
        (mid_e, south, east, mid_n),
        (west, mid_n, mid_e, north),
        (mid_e, mid_n, east, north),
    ]
    pieces: list[list[MeshPart]] = [[], [], [], []]
    for part in parts:
        centroids = part.positions_m[part.indices].mean(axis=1)
        quadrant = (centroids[:, 0] >= mid_e).astype(int) + 2 * (centroids[:, 1] >= mid_n)
        for q in range(4):
            mask = quadrant == q
            if mask.any():
                pieces[q].append(part.keeping(part.indices[mask]))
    for q, piece in enumerate(pieces):
        if piece:
            node.children.append(_split(piece, quadrants[q], depth + 1, options))
    return node


def _simplified(node: _Node, options: QuadtreeOptions) -> list[MeshPart]:
    """About max_leaf_triangles for the whole node, shared by its parts by size."""
    share = options.max_leaf_triangles / max(node.triangles, 1)
    result = []
    for part in node.parts:
        target = max(1, int(part.triangle_count * share))
        simplified, _ = simplify_meshopt(
            part, target, MAX_ERROR_BOUND, options=meshoptimizer.SIMPLIFY_LOCK_BORDER
        )
        if simplified is not None:
            result.append(simplified)
    return result


def _tile(
    node: _Node,
    depth: int,
    options: QuadtreeOptions,
    textures: dict[int, EncodedTexture],
    files: dict[str, bytes],
    counter: dict[str, int],
) -> dict[str, Any]:
    counter["tiles"] += 1
    counter["depth"] = max(counter["depth"], depth)
    children = [_tile(c, depth + 1, options, textures, files, counter) for c in node.children]
    content = node.parts if not children else _simplified(node, options)
    glb = _encode(content, options, textures, files)
    name = content_name(glb, "glb")
    files[name] = glb
    decoded_positions, decoded_indices = decode_glb(glb, files).merged()
    if children:
        reference = _merged_gltf(node.parts)
        _, p99 = surface_distance(
            reference[0], reference[1], decoded_positions, decoded_indices, samples=MEASURE_SAMPLES
        )
        error = max([p99, *(c["geometricError"] for c in children)])
    else:
        error = 0.0  # the source itself
    enu = enu_points(decoded_positions)
    low, high = enu.min(axis=0), enu.max(axis=0)
    for child in children:
        box = child["boundingVolume"]["box"]
        centre, half = np.array(box[0:3]), np.array([box[3], box[7], box[11]])
        low, high = np.minimum(low, centre - half), np.maximum(high, centre + half)
    tile: dict[str, Any] = {
        "boundingVolume": {"box": box_volume(low.tolist(), high.tolist())},
        "geometricError": float(error),
        "refine": "REPLACE",
        "content": {"uri": name},
    }
    if children:
        tile["children"] = children
    return tile


def _encode(
    parts: list[MeshPart],
    options: QuadtreeOptions,
    textures: dict[int, EncodedTexture],
    files: dict[str, bytes],
) -> bytes:
    meshes = []
    for part in parts:
        texture = part.base_color_texture
        encoded = None
        if texture is not None:
            if id(texture) not in textures:
                textures[id(texture)] = encode_texture(texture, options.profile)
                files.update(textures[id(texture)].files())
            encoded = textures[id(texture)]
        meshes.append(OutputMesh(optimize_order(part), [IDENTITY], encoded))
    encode_options = EncodeOptions(
        codec=options.codec, position_bits=options.position_bits, external_textures=True
    )
    return write_compressed_glb(meshes, encode_options, extras={"generator": "quadtree"})


def _merged_gltf(parts: list[MeshPart]) -> tuple[NDArray[np.float64], NDArray[np.uint32]]:
    """Parts as one triangle soup in glTF's frame (x east, y up, z south), as decoded."""
    positions, indices, offset = [], [], 0
    for part in parts:
        positions.append(gltf_points(part.positions_m))
        indices.append(part.indices.astype(np.uint32) + offset)
        offset += part.vertex_count
    return np.concatenate(positions), np.concatenate(indices)
