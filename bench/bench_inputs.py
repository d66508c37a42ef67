"""Deterministic GLB inputs for the asset benchmark: same seed, same bytes.

    terrain          512 × 512-sample fBm height field, 10 km across, 300 m of relief,
                     normals and UVs, one mesh (written by our own write_glb)
    city             1,500 unique box buildings (a mesh and node each) and 400 nodes placing
                     ONE 200-triangle tree mesh (instancing in the file), with normals
    textured_sphere  a 327,680-triangle noise-displaced icosphere (radius 50 m) with
                     normals, spherical UVs (seam split) and a 2048² photo-like PNG texture

Everything is made in ENU metres (x east, y north, z up) and written in glTF's y-up frame.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image
from scipy.ndimage import map_coordinates
from trimesh.exchange.gltf import export_glb

from assets_pipeline.glb import enu_to_gltf, write_glb
from assets_pipeline.mesh import MeshPart, vertex_normals

Floats = NDArray[np.float64]

TERRAIN_SAMPLES = 512
TERRAIN_EXTENT_M = 10_000.0
TERRAIN_RELIEF_M = 300.0
BUILDINGS = 1_500
TREES = 400
CITY_EXTENT_M = 3_000.0
SPHERE_SUBDIVISIONS = 7  # 20 × 4⁷ = 327,680 triangles
SPHERE_RADIUS_M = 50.0
SPHERE_RELIEF_M = 4.0
TEXTURE_SIZE = 2048


def fbm(coordinates: Floats, octaves: int, base_cells: int, seed: int) -> Floats:
    """Fractal (1/f) value noise at points (n, d) in [0, 1]^d, roughly in [-1, 1].

    Each octave doubles the lattice resolution and halves the amplitude; lattice values
    are interpolated with cubic splines, so the field is smooth at every scale.
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(len(coordinates))
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        cells = base_cells * 2**octave
        lattice = rng.uniform(-1.0, 1.0, size=(cells + 4,) * coordinates.shape[1])
        where = (coordinates * cells + 1.5).T  # a margin keeps the spline off the edges
        total += amplitude * map_coordinates(lattice, where, order=3, mode="nearest")
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def grid_indices(rows: int, columns: int) -> NDArray[np.uint32]:
    """(2 (rows-1)(columns-1), 3) counter-clockwise triangles over a row-major grid whose
    rows run south → north and columns west → east."""
    i = np.arange(rows * columns).reshape(rows, columns)
    a, b = i[:-1, :-1].ravel(), i[:-1, 1:].ravel()
    c, d = i[1:, :-1].ravel(), i[1:, 1:].ravel()
    return np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)]).astype(np.uint32)


def terrain_glb(seed: int = 1) -> bytes:
    n = TERRAIN_SAMPLES
    t = np.linspace(0.0, 1.0, n)
    u, v = np.meshgrid(t, t)  # u west → east, v south → north
    field = fbm(np.stack([u.ravel(), v.ravel()], 1), octaves=8, base_cells=2, seed=seed)
    heights = (field - field.min()) / (field.max() - field.min()) * TERRAIN_RELIEF_M
    positions = np.stack(
        [(u.ravel() - 0.5) * TERRAIN_EXTENT_M, (v.ravel() - 0.5) * TERRAIN_EXTENT_M, heights], 1
    ).astype(np.float32)
    indices = grid_indices(n, n)
    uvs = np.stack([u.ravel(), 1.0 - v.ravel()], 1).astype(np.float32)  # glTF v grows down
    part = MeshPart(
        name="terrain",
        positions_m=positions,
        indices=indices,
        normals=vertex_normals(positions, indices),
        uvs=uvs,
        base_color_rgba=(0.45, 0.5, 0.35, 1.0),
    )
    return write_glb([part], generator="twinland bench_inputs")


def _box(width: float, depth: float, height: float) -> tuple[Floats, NDArray[np.int64], Floats]:
    """A flat-shaded box standing on the origin: 24 vertices, 12 triangles, ENU."""
    lo = np.array([-width / 2, -depth / 2, 0.0])
    hi = np.array([width / 2, depth / 2, height])
    faces = [  # (axis, side, two in-plane axes ordered so the quad faces outwards)
        (0, 1, (1, 2)),
        (0, 0, (2, 1)),
        (1, 1, (2, 0)),
        (1, 0, (0, 2)),
        (2, 1, (0, 1)),
        (2, 0, (1, 0)),
    ]
    positions: list[Floats] = []
    normals: list[Floats] = []
    indices: list[list[list[int]]] = []
    for axis, side, (s, t) in faces:
        corner = np.empty((4, 3))
        corner[:, axis] = hi[axis] if side else lo[axis]
        for k, (a, b) in enumerate([(0, 0), (1, 0), (1, 1), (0, 1)]):
            corner[k, s] = hi[s] if a else lo[s]
            corner[k, t] = hi[t] if b else lo[t]
        normal = np.zeros(3)
        normal[axis] = 1.0 if side else -1.0
        base = 4 * len(positions)
        positions.append(corner)
        normals.append(np.tile(normal, (4, 1)))
        indices.append([[base, base + 1, base + 2], [base, base + 2, base + 3]])
    return np.concatenate(positions), np.array(indices).reshape(-1, 3), np.concatenate(normals)


def _tree(rng: np.random.Generator) -> trimesh.Trimesh:
    """A 200-triangle tree in ENU metres: a 40-triangle trunk and two lumpy crown blobs."""
    trunk = trimesh.creation.cylinder(radius=0.25, height=3.0, sections=10)
    trunk.apply_translation([0.0, 0.0, 1.5])
    blobs = []
    for centre, radius in (((0.0, 0.0, 4.6), 2.2), ((0.4, -0.3, 6.4), 1.5)):
        blob = trimesh.creation.icosphere(subdivisions=1, radius=radius)
        blob.vertices *= rng.uniform(0.85, 1.15, size=(len(blob.vertices), 1))
        blob.apply_translation(centre)
        blobs.append(blob)
    tree = trimesh.util.concatenate([trunk, *blobs])
    assert isinstance(tree, trimesh.Trimesh)
    return tree


def _gltf_mesh(
    positions_enu: Floats, indices: NDArray[np.int64], normals_enu: Floats | None, colour: str
) -> trimesh.Trimesh:
    rgba = {"stone": [170, 165, 155, 255], "leaf": [70, 120, 55, 255]}[colour]
    material = trimesh.visual.material.PBRMaterial(
        name=colour, baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=0.9
    )
    positions = positions_enu.astype(np.float32)
    normals = (
        vertex_normals(positions, indices.astype(np.uint32))
        if normals_enu is None
        else normals_enu.astype(np.float32)
    )
    return trimesh.Trimesh(
        vertices=enu_to_gltf(positions),
        faces=indices,
        vertex_normals=enu_to_gltf(normals),
        visual=trimesh.visual.TextureVisuals(material=material),
        process=False,
    )


def _placement(east: float, north: float, yaw: float, scale: float = 1.0) -> Floats:
    """A glTF-frame node matrix: yaw about up (y), uniform scale, then a ground position."""
    c, s = np.cos(yaw), np.sin(yaw)
    matrix = np.eye(4)
    matrix[:3, :3] = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]) * scale
    matrix[:3, 3] = [east, 0.0, -north]
    return matrix


def city_glb(seed: int = 2) -> bytes:
    rng = np.random.default_rng(seed)
    scene = trimesh.Scene()
    half = CITY_EXTENT_M / 2
    for b in range(BUILDINGS):
        width, depth = rng.uniform(10.0, 60.0, size=2)
        height = float(np.clip(6.0 + rng.lognormal(2.6, 0.7), 6.0, 120.0))
        positions, indices, normals = _box(width, depth, height)
        east, north = rng.uniform(-half, half, size=2)
        scene.add_geometry(
            _gltf_mesh(positions, indices, normals, "stone"),
            geom_name=f"building_{b:04d}",
            node_name=f"building_{b:04d}",
            transform=_placement(east, north, rng.uniform(0, 2 * np.pi)),
        )
    tree = _tree(rng)
    mesh = _gltf_mesh(np.asarray(tree.vertices), np.asarray(tree.faces), None, "leaf")
    for t in range(TREES):
        east, north = rng.uniform(-half, half, size=2)
        matrix = _placement(east, north, rng.uniform(0, 2 * np.pi), rng.uniform(0.7, 1.4))
        if t == 0:
            scene.add_geometry(mesh, geom_name="tree", node_name="tree_000", transform=matrix)
        else:  # the same geometry name again: one glTF mesh referenced by many nodes
            scene.graph.update(
                frame_to=f"tree_{t:03d}",
                frame_from=scene.graph.base_frame,
                geometry="tree",
                matrix=matrix,
            )
    data: bytes = export_glb(scene, include_normals=True)
    return data


def photo_texture(size: int = TEXTURE_SIZE, seed: int = 3) -> bytes:
    """A photo-like PNG: soil, grass and rock by multi-octave noise, shading, veins and
    sensor grain. Fine detail and grain keep it from compressing trivially (several MB)."""
    rng = np.random.default_rng(seed)

    def noise(octaves: int, first_cells: int, gain: float = 0.55) -> NDArray[np.float32]:
        total = np.zeros((size, size), dtype=np.float32)
        amplitude, norm = 1.0, 0.0
        for octave in range(octaves):
            cells = min(first_cells * 2**octave, size)
            lattice = rng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
            layer = Image.fromarray(lattice, mode="F").resize(
                (size, size), Image.Resampling.BICUBIC
            )
            total += amplitude * np.asarray(layer, dtype=np.float32)
            norm += amplitude
            amplitude *= gain
        return total / norm

    cover = noise(9, 4)  # what the ground is: soil → grass → rock
    shade = noise(9, 8, 0.6)  # relief shading and moisture
    veins = 1.0 - np.abs(noise(6, 16, 0.5))  # ridged cracks in the rock
    stops = np.array([-0.6, -0.15, 0.15, 0.55])
    palette = np.array(
        [[92, 70, 48], [118, 128, 62], [74, 104, 50], [150, 146, 138]], dtype=np.float32
    )
    rgb = np.stack([np.interp(cover, stops, palette[:, ch]) for ch in range(3)], axis=-1)
    rgb *= (1.0 + 0.45 * shade)[..., None]
    rock = np.clip((cover - 0.2) * 3.0, 0.0, 1.0)
    rgb *= (1.0 - 0.35 * rock * np.clip((veins - 0.85) * 8.0, 0.0, 1.0))[..., None]
    detail = noise(3, 256, 0.8)  # texture at 2-8 px: grass blades, gravel
    bushes = np.clip((noise(2, 384, 0.7) - 0.35) * 4.0, 0.0, 1.0) * (1.0 - rock)
    rgb *= ((1.0 + 0.3 * detail) * (1.0 - 0.4 * bushes))[..., None]
    tint = np.stack([noise(7, 32, 0.6) for _ in range(3)], axis=-1)  # per-channel variation
    rgb += 14.0 * tint
    rgb += rng.normal(0.0, 2.5, size=rgb.shape)  # sensor grain
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _split_uv_seam(
    positions: Floats, faces: NDArray[np.int64], uv: Floats
) -> tuple[Floats, NDArray[np.int64], Floats]:
    """Duplicate the vertices of triangles that straddle u = 0/1 so their u stays continuous,
    as any real spherical unwrap does."""
    u = uv[faces, 0]
    wraps = (u.max(axis=1) - u.min(axis=1)) > 0.5
    corners = wraps[:, None] & (u < 0.5)
    originals = faces[corners]
    unique, inverse = np.unique(originals, return_inverse=True)
    faces = faces.copy()
    faces[corners] = len(positions) + inverse
    moved = uv[unique].copy()
    moved[:, 0] += 1.0
    return (
        np.concatenate([positions, positions[unique]]),
        faces,
        np.concatenate([uv, moved]),
    )


def textured_sphere_glb(seed: int = 4, subdivisions: int = SPHERE_SUBDIVISIONS) -> bytes:
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
    unit = np.asarray(sphere.vertices, dtype=np.float64)
    faces = np.asarray(sphere.faces, dtype=np.int64)
    bump = fbm((unit + 1.0) / 2.0, octaves=7, base_cells=3, seed=seed)
    positions = unit * (SPHERE_RADIUS_M + SPHERE_RELIEF_M * bump)[:, None]
    # trimesh's UVs have v up (it flips them for glTF on export).
    uv = np.stack(
        [
            0.5 + np.arctan2(unit[:, 1], unit[:, 0]) / (2 * np.pi),
            0.5 + np.arcsin(np.clip(unit[:, 2], -1.0, 1.0)) / np.pi,
        ],
        axis=1,
    )
    positions, faces, uv = _split_uv_seam(positions, faces, uv)
    normals = vertex_normals(positions.astype(np.float32), faces.astype(np.uint32))
    texture = Image.open(io.BytesIO(photo_texture()))
    material = trimesh.visual.material.PBRMaterial(
        name="ground", baseColorTexture=texture, metallicFactor=0.0, roughnessFactor=0.9
    )
    mesh = trimesh.Trimesh(
        vertices=enu_to_gltf(positions.astype(np.float32)),
        faces=faces,
        vertex_normals=enu_to_gltf(normals),
        visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
        process=False,
    )
    data: bytes = export_glb(trimesh.Scene(mesh), include_normals=True)
    return data


INPUTS: dict[str, Callable[[], bytes]] = {
    "terrain": terrain_glb,
    "city": city_glb,
    "textured_sphere": textured_sphere_glb,
}
