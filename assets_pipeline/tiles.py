"""3D Tiles 1.1 tilesets: a scene's LOD chain placed on the globe.

A tileset is JSON: tiles with bounding volumes, a ``geometricError`` in metres, content
(our GLBs) and REPLACE refinement. The root ``transform`` takes the scene's ENU frame (x
east, y north, z up, metres from its WGS84 origin) to Earth-centred Earth-fixed
coordinates, so Cesium and three.js 3D Tiles renderers put a scene where it is. glTF
content is y-up; 3D Tiles rotates it to z-up, which is exactly our ENU.

This module handles a chain per asset: the coarsest level is the root, each finer level
its only child, and a tile's geometricError is its level's *measured* error (the
symmetric surface distance to the source, p99) — the error a client accepts by not
refining further. The spatial split of large layers into a quadtree is the scene
delivery's next step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

# WGS84
SEMI_MAJOR_AXIS_M = 6_378_137.0
FLATTENING = 1.0 / 298.257223563
ECCENTRICITY_SQ = FLATTENING * (2.0 - FLATTENING)


def geodetic_to_ecef(lat_deg: float, lon_deg: float, height_m: float) -> NDArray[np.float64]:
    """(3,) ECEF metres of a WGS84 position (height above the ellipsoid)."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    n = SEMI_MAJOR_AXIS_M / math.sqrt(1.0 - ECCENTRICITY_SQ * math.sin(lat) ** 2)
    return np.array(
        [
            (n + height_m) * math.cos(lat) * math.cos(lon),
            (n + height_m) * math.cos(lat) * math.sin(lon),
            (n * (1.0 - ECCENTRICITY_SQ) + height_m) * math.sin(lat),
        ]
    )


def ecef_to_geodetic(ecef: NDArray[np.float64]) -> tuple[float, float, float]:
    """(lat°, lon°, height m) of an ECEF point (Bowring's method, sub-millimetre on Earth)."""
    x, y, z = (float(c) for c in ecef)
    b = SEMI_MAJOR_AXIS_M * (1.0 - FLATTENING)
    ep2 = (SEMI_MAJOR_AXIS_M**2 - b**2) / b**2
    p = math.hypot(x, y)
    theta = math.atan2(z * SEMI_MAJOR_AXIS_M, p * b)
    lat = math.atan2(
        z + ep2 * b * math.sin(theta) ** 3,
        p - ECCENTRICITY_SQ * SEMI_MAJOR_AXIS_M * math.cos(theta) ** 3,
    )
    lon = math.atan2(y, x)
    n = SEMI_MAJOR_AXIS_M / math.sqrt(1.0 - ECCENTRICITY_SQ * math.sin(lat) ** 2)
    height = p / math.cos(lat) - n
    return math.degrees(lat), math.degrees(lon), height


def enu_to_ecef(lat_deg: float, lon_deg: float, height_m: float) -> NDArray[np.float64]:
    """(4, 4) matrix taking ENU metres at the origin to ECEF metres."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    east = np.array([-math.sin(lon), math.cos(lon), 0.0])
    north = np.array(
        [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)]
    )
    up = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
    matrix = np.eye(4)
    matrix[:3, 0], matrix[:3, 1], matrix[:3, 2] = east, north, up
    matrix[:3, 3] = geodetic_to_ecef(lat_deg, lon_deg, height_m)
    return matrix


@dataclass(frozen=True, slots=True)
class TileLevel:
    """One level of an asset's chain, as the pipeline's manifest describes it."""

    uri: str  # relative to the tileset JSON (the content-addressed GLB beside it)
    bounds_min_enu_m: tuple[float, float, float]
    bounds_max_enu_m: tuple[float, float, float]
    error_m: float  # measured error against the source (0 for the full-detail level)


def box_volume(low: Sequence[float], high: Sequence[float]) -> list[float]:
    """3D Tiles ``box``: centre, then the three half-axis vectors (axis-aligned here)."""
    centre = [(a + b) / 2 for a, b in zip(low, high, strict=True)]
    half = [max((b - a) / 2, 1e-3) for a, b in zip(low, high, strict=True)]  # never flat
    return [*centre, half[0], 0.0, 0.0, 0.0, half[1], 0.0, 0.0, 0.0, half[2]]


def chain_tileset(
    levels: Sequence[TileLevel], origin: tuple[float, float, float]
) -> dict[str, Any]:
    """A 3D Tiles 1.1 tileset for a chain, finest level first (as the pipeline lists it).

    The tileset's own geometricError (when to draw nothing at all) is the root's bounding
    box diagonal; each tile's is its level's measured error, forced non-increasing
    towards the leaves as 3D Tiles requires, and the full-detail leaf's is 0.
    """
    if not levels:
        raise ValueError("a tileset needs at least one level")
    errors = [0.0 if i == 0 else max(level.error_m, 0.0) for i, level in enumerate(levels)]
    for i in range(1, len(errors)):  # a coarser level never claims less error than a finer
        errors[i] = max(errors[i], errors[i - 1])
    tile: dict[str, Any] | None = None
    for level, error in zip(levels, errors, strict=True):  # finest first: build leaf-up
        node: dict[str, Any] = {
            "boundingVolume": {"box": box_volume(level.bounds_min_enu_m, level.bounds_max_enu_m)},
            "geometricError": error,
            "refine": "REPLACE",
            "content": {"uri": level.uri},
        }
        if tile is not None:
            # a parent must enclose its children: grow the coarser box to cover the finer
            low = np.minimum(level.bounds_min_enu_m, _box_low(tile))
            high = np.maximum(level.bounds_max_enu_m, _box_high(tile))
            node["boundingVolume"]["box"] = box_volume(low.tolist(), high.tolist())
            node["children"] = [tile]
        tile = node
    assert tile is not None
    root_box = tile["boundingVolume"]["box"]
    diagonal = 2.0 * math.sqrt(root_box[3] ** 2 + root_box[7] ** 2 + root_box[11] ** 2)
    tile["transform"] = enu_to_ecef(*origin).T.reshape(-1).tolist()  # column-major
    return {
        "asset": {"version": "1.1", "generator": "twinland assets_pipeline"},
        "geometricError": max(diagonal, errors[-1]),
        "root": tile,
    }


def _box_low(tile: dict[str, Any]) -> NDArray[np.float64]:
    box = tile["boundingVolume"]["box"]
    return np.array([box[0] - box[3], box[1] - box[7], box[2] - box[11]])


def _box_high(tile: dict[str, Any]) -> NDArray[np.float64]:
    box = tile["boundingVolume"]["box"]
    return np.array([box[0] + box[3], box[1] + box[7], box[2] + box[11]])


def levels_from_summary(summary: dict[str, Any]) -> list[TileLevel]:
    """The TileLevels of one asset in the pipeline's manifest (an unmeasured error, NaN,
    counts as 0: the level is then refined to only when nothing finer exists)."""
    levels = []
    for lod in summary["lods"]:
        error = float(lod["error_p99_m"])
        low, high = lod["bounds_min_enu_m"], lod["bounds_max_enu_m"]
        levels.append(
            TileLevel(
                uri=str(lod["file"]),
                bounds_min_enu_m=(float(low[0]), float(low[1]), float(low[2])),
                bounds_max_enu_m=(float(high[0]), float(high[1]), float(high[2])),
                error_m=0.0 if math.isnan(error) else error,
            )
        )
    return levels
