"""Procedural terrain: a seeded fractal height field over a scene's extent, and its mesh.

The field is a continuous function of position (lattice value noise summed over
octaves), so grids with different sample counts — one per client tier — describe the
same landscape and buildings placed on the finest grid sit on every tier's ground.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from assets_pipeline.mesh import MeshError, MeshPart, vertex_normals

Coast = Literal["none", "north", "east", "south", "west"]
OCTAVES = 6
BASE_CELLS = 3  # lattice cells across the extent at the coarsest octave
DEFAULT_LAND_FRACTION = 0.75  # share of the extent that is land when there is a coast
SEABED_DEPTH_FRACTION = 0.15  # seabed depth at the far edge, as a share of relief
MAX_SAMPLES = 4097
GROUND_PASSES = 4


@dataclass(frozen=True, eq=False)
class Heightfield:
    """Heights on a regular grid centred on the scene origin.

    heights_m: (samples, samples) float64; row i runs south → north, column j west → east.
    """

    extent_east_m: float
    extent_north_m: float
    heights_m: NDArray[np.float64]
    sea_level_m: float

    @property
    def samples(self) -> int:
        return int(self.heights_m.shape[0])

    def height_at(self, east_m: float, north_m: float) -> float:
        """Bilinear height at an ENU position, clamped to the grid's edge."""
        n = self.samples - 1
        fx = np.clip((east_m / self.extent_east_m + 0.5) * n, 0.0, n)
        fy = np.clip((north_m / self.extent_north_m + 0.5) * n, 0.0, n)
        j, i = min(int(fx), n - 1), min(int(fy), n - 1)
        tx, ty = fx - j, fy - i
        h = self.heights_m
        south = h[i, j] * (1 - tx) + h[i, j + 1] * tx
        north = h[i + 1, j] * (1 - tx) + h[i + 1, j + 1] * tx
        return float(south * (1 - ty) + north * ty)


def _smoothstep(t: NDArray[np.float64]) -> NDArray[np.float64]:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _value_noise(lattice: NDArray[np.float64], u: NDArray[np.float64]) -> NDArray[np.float64]:
    """Smoothly interpolated lattice values at unit-square coordinates u (s,) × u (s,)."""
    cells = lattice.shape[0] - 1
    x = u * cells
    i0 = np.minimum(x.astype(np.int64), cells - 1)
    t = _smoothstep(x - i0)
    # rows = north (v), columns = east (u); same coordinates on both axes
    a = lattice[np.ix_(i0, i0)]
    b = lattice[np.ix_(i0, i0 + 1)]
    c = lattice[np.ix_(i0 + 1, i0)]
    d = lattice[np.ix_(i0 + 1, i0 + 1)]
    tx = t[None, :]
    ty = t[:, None]
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty


def _land_mask(u: NDArray[np.float64], coast: Coast, land_fraction: float) -> NDArray[np.float64]:
    """1 inland, falling to 0 at the coastline and below towards the ``coast`` edge."""
    east, north = np.meshgrid(u, u)  # (s, s): north rows, east columns
    distance_from_sea = {
        "none": np.ones_like(east),
        "east": 1.0 - east,
        "west": east,
        "north": 1.0 - north,
        "south": north,
    }[coast]
    # -1 at the far sea edge, 0 on the coastline, 1 well inland
    return np.clip((distance_from_sea - (1.0 - land_fraction)) / 0.25, -1.0, 1.0)


def heightfield(
    extent_east_m: float,
    extent_north_m: float,
    samples: int,
    *,
    seed: int,
    relief_m: float,
    sea_level_m: float = 0.0,
    coast: Coast = "none",
    land_fraction: float = DEFAULT_LAND_FRACTION,
    ground_points_m: NDArray[np.float64] | None = None,
    ground_radius_m: float = 250.0,
) -> Heightfield:
    """A deterministic fractal landscape: peaks up to ``relief_m`` above sea level,
    falling into the sea on the ``coast`` side; the coastline runs ``land_fraction`` of
    the extent away from the opposite edge.

    ground_points_m: (k, 3) ENU metres of places whose ground height is known (POIs);
    the surface is bent to pass through them, fading out over ``ground_radius_m``, so
    markers, cameras and buildings placed at real heights stand on the ground.
    """
    if not 2 <= samples <= MAX_SAMPLES:
        raise MeshError("bad_grid", f"samples must be in [2, {MAX_SAMPLES}], got {samples}")
    if extent_east_m <= 0 or extent_north_m <= 0 or relief_m <= 0:
        raise MeshError("bad_grid", "extents and relief must be positive")
    if not 0.0 < land_fraction <= 1.0:
        raise MeshError("bad_grid", f"land_fraction must be in (0, 1], got {land_fraction}")
    rng = np.random.default_rng(seed)
    u = np.linspace(0.0, 1.0, samples)
    noise = np.zeros((samples, samples))
    amplitude_sum = 0.0
    for octave in range(OCTAVES):
        cells = BASE_CELLS * 2**octave
        amplitude = 0.5**octave
        # drawn in octave order, so the same seed gives the same lattice at any sample count
        noise += amplitude * _value_noise(rng.random((cells + 1, cells + 1)), u)
        amplitude_sum += amplitude
    noise /= amplitude_sum  # in [0, 1]
    ridged = noise**1.6  # broad valleys, sharper peaks
    land = _land_mask(u, coast, land_fraction)
    above = relief_m * ridged * _smoothstep(land / 0.6)
    seabed = -relief_m * SEABED_DEPTH_FRACTION * np.clip(-land, 0.0, 1.0)
    heights = sea_level_m + np.where(land > 0, above + 2.0 * land, seabed)
    field = Heightfield(extent_east_m, extent_north_m, heights, sea_level_m)
    if ground_points_m is not None and len(ground_points_m):
        # a few passes: overlapping bumps share residuals, each pass closes most of the rest
        for _ in range(GROUND_PASSES):
            field = _through_points(field, ground_points_m, ground_radius_m)
    return field


def _through_points(
    field: Heightfield, points_m: NDArray[np.float64], radius_m: float
) -> Heightfield:
    """Add Gaussian bumps so the surface meets each point's height; where bumps overlap
    their weights are normalised (Shepard), so nearby points do not add up."""
    s = field.samples
    east = (np.linspace(0.0, 1.0, s) - 0.5) * field.extent_east_m
    north = (np.linspace(0.0, 1.0, s) - 0.5) * field.extent_north_m
    residual = np.array(
        [h - field.height_at(float(e), float(n)) for e, n, h in points_m], dtype=np.float64
    )
    two_sigma2 = 2.0 * radius_m**2
    weights = np.exp(
        -((east[None, None, :] - points_m[:, 0, None, None]) ** 2) / two_sigma2
        - ((north[None, :, None] - points_m[:, 1, None, None]) ** 2) / two_sigma2
    )  # (k, s, s): point, north row, east column
    total = weights.sum(axis=0)
    correction = np.einsum("k,kij->ij", residual, weights) / np.maximum(total, 1.0)
    return Heightfield(
        field.extent_east_m, field.extent_north_m, field.heights_m + correction, field.sea_level_m
    )


# Hypsometric tints (sRGB-ish, stored as linear bytes): water, sand, grass, forest, rock.
_TINTS = np.array(
    [[38, 86, 140], [214, 200, 160], [118, 160, 84], [62, 110, 60], [140, 132, 120]],
    dtype=np.float64,
)


def _tint(heights_m: NDArray[np.float64], sea_level_m: float, relief_m: float) -> NDArray[np.uint8]:
    rel = (heights_m - sea_level_m) / max(relief_m, 1e-6)
    stops = np.array([-1e-9, 0.02, 0.25, 0.7])  # water | sand | grass | forest | rock
    band = np.searchsorted(stops, rel)
    rgb = _TINTS[np.clip(band, 0, len(_TINTS) - 1)]
    rgba = np.concatenate([rgb, np.full((rgb.shape[0], 1), 255.0)], axis=1)
    return rgba.astype(np.uint8)


def terrain_mesh(field: Heightfield, *, name: str = "terrain") -> MeshPart:
    """The grid as triangles (2 per cell) with smooth normals, UVs and height tints."""
    s = field.samples
    east = (np.linspace(0.0, 1.0, s) - 0.5) * field.extent_east_m
    north = (np.linspace(0.0, 1.0, s) - 0.5) * field.extent_north_m
    ee, nn = np.meshgrid(east, north)
    positions = np.stack([ee, nn, field.heights_m], axis=-1).reshape(-1, 3).astype(np.float32)

    rows = np.arange(s - 1)[:, None]
    cols = np.arange(s - 1)[None, :]
    v00 = (rows * s + cols).reshape(-1)
    v01, v10 = v00 + 1, v00 + s  # east neighbour, north neighbour
    v11 = v10 + 1
    # counter-clockwise seen from above (+up)
    indices = np.concatenate(
        [np.stack([v00, v01, v11], axis=1), np.stack([v00, v11, v10], axis=1)]
    ).astype(np.uint32)

    u, v = np.meshgrid(np.linspace(0.0, 1.0, s), np.linspace(1.0, 0.0, s))
    uvs = np.stack([u, v], axis=-1).reshape(-1, 2).astype(np.float32)
    relief = float(field.heights_m.max() - field.sea_level_m)
    return MeshPart(
        name=name,
        positions_m=positions,
        indices=indices,
        normals=vertex_normals(positions, indices),
        uvs=uvs,
        colors_rgba=_tint(field.heights_m.reshape(-1), field.sea_level_m, relief),
        roughness=0.95,
    )
