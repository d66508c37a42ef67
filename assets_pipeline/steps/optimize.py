"""GPU-friendly order: triangles for the post-transform vertex cache, vertices in first-use
order (meshoptimizer), which also makes the delta-coded vertex streams compress better."""

from __future__ import annotations

import meshoptimizer
import numpy as np

from assets_pipeline.mesh import MeshPart


def optimize_order(part: MeshPart) -> MeshPart:
    n = part.vertex_count
    flat = np.ascontiguousarray(part.indices.reshape(-1), dtype=np.uint32)
    cached = np.zeros_like(flat)
    meshoptimizer.optimize_vertex_cache(cached, flat, index_count=len(flat), vertex_count=n)
    remap = np.zeros(n, dtype=np.uint32)
    unique = meshoptimizer.optimize_vertex_fetch_remap(
        remap, cached, index_count=len(cached), vertex_count=n
    )
    order = np.empty(unique, dtype=np.int64)  # new slot -> old vertex
    used = remap < unique
    order[remap[used]] = np.nonzero(used)[0]
    return part.with_vertices(order, remap[cached].reshape(-1, 3))
