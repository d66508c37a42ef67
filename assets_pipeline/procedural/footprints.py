"""Building footprints → flat-roofed prisms (walls and roof; the base sits on the ground)."""

from __future__ import annotations

from dataclasses import dataclass

import mapbox_earcut
import numpy as np
from numpy.typing import NDArray

from assets_pipeline.mesh import MeshError, MeshPart, Rgba

MIN_AREA_M2 = 1.0
MAX_RING_VERTICES = 10_000


@dataclass(frozen=True, eq=False)
class Footprint:
    """ring_m: (k, 2) float64 ENU metres (east, north), open or closed, any winding."""

    ring_m: NDArray[np.float64]
    height_m: float
    base_m: float = 0.0
    color_rgba: Rgba = (0.82, 0.80, 0.76, 1.0)


def signed_area_m2(ring: NDArray[np.float64]) -> float:
    """Shoelace area: positive for a counter-clockwise ring."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _clean_ring(footprint: Footprint, number: int) -> NDArray[np.float64]:
    ring = np.asarray(footprint.ring_m, dtype=np.float64)
    if ring.ndim != 2 or ring.shape[1] != 2 or not np.isfinite(ring).all():
        raise MeshError("bad_footprint", f"footprint {number}: ring must be finite (k, 2) metres")
    if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
        ring = ring[:-1]
    keep = np.any(np.abs(np.diff(ring, axis=0, append=ring[:1])) > 1e-6, axis=1)
    ring = ring[keep]  # drop repeated consecutive points
    if not 3 <= len(ring) <= MAX_RING_VERTICES:
        raise MeshError("bad_footprint", f"footprint {number}: needs 3..{MAX_RING_VERTICES} points")
    area = signed_area_m2(ring)
    if abs(area) < MIN_AREA_M2:
        raise MeshError(
            "bad_footprint", f"footprint {number}: area {abs(area):.2f} m² is too small"
        )
    if not footprint.height_m > 0 or not np.isfinite(footprint.height_m):
        raise MeshError("bad_footprint", f"footprint {number}: height must be positive")
    return ring if area > 0 else ring[::-1].copy()


def _roof(ring: NDArray[np.float64], top_m: float) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    triangles = mapbox_earcut.triangulate_float64(ring, np.array([len(ring)], dtype=np.uint32))
    tris = triangles.astype(np.int64).reshape(-1, 3)
    a, b, c = ring[tris[:, 0]], ring[tris[:, 1]], ring[tris[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    tris[cross < 0] = tris[cross < 0][:, [0, 2, 1]]  # roofs face up
    positions = np.column_stack([ring, np.full(len(ring), top_m)])
    return positions, tris


def _walls(
    ring: NDArray[np.float64], base_m: float, top_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    a = ring
    b = np.roll(ring, -1, axis=0)
    k = len(ring)
    # 4 vertices per wall (flat shading): a-bottom, b-bottom, b-top, a-top
    positions = np.stack(
        [
            np.column_stack([a, np.full(k, base_m)]),
            np.column_stack([b, np.full(k, base_m)]),
            np.column_stack([b, np.full(k, top_m)]),
            np.column_stack([a, np.full(k, top_m)]),
        ],
        axis=1,
    ).reshape(-1, 3)
    edge = b - a
    outward = np.column_stack([edge[:, 1], -edge[:, 0], np.zeros(k)])  # CCW ring → right side
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    normals = np.repeat(outward, 4, axis=0)
    q = np.arange(k)[:, None] * 4
    first = q + np.array([0, 1, 2])
    second = q + np.array([0, 2, 3])
    tris = np.concatenate([first, second]).astype(np.int64)
    return positions, normals, tris


def extrude_footprints(footprints: list[Footprint], *, name: str = "buildings") -> MeshPart:
    """All footprints as one primitive with per-vertex colours and flat normals."""
    if not footprints:
        raise MeshError("empty_mesh", f"{name}: no footprints")
    positions: list[NDArray[np.float64]] = []
    normals: list[NDArray[np.float64]] = []
    colors: list[NDArray[np.uint8]] = []
    indices: list[NDArray[np.int64]] = []
    count = 0
    for number, footprint in enumerate(footprints):
        ring = _clean_ring(footprint, number)
        top = footprint.base_m + footprint.height_m
        wall_p, wall_n, wall_t = _walls(ring, footprint.base_m, top)
        roof_p, roof_t = _roof(ring, top)
        rgba = np.round(np.array(footprint.color_rgba) * 255).astype(np.uint8)
        for p, n, t in (
            (wall_p, wall_n, wall_t),
            (roof_p, np.tile([0.0, 0.0, 1.0], (len(roof_p), 1)), roof_t),
        ):
            positions.append(p)
            normals.append(n)
            indices.append(t + count)
            colors.append(np.tile(rgba, (len(p), 1)))
            count += len(p)
    return MeshPart(
        name=name,
        positions_m=np.concatenate(positions).astype(np.float32),
        indices=np.concatenate(indices).astype(np.uint32),
        normals=np.concatenate(normals).astype(np.float32),
        colors_rgba=np.concatenate(colors),
        roughness=0.8,
    )
