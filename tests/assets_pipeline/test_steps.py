"""The pure pipeline steps, one behaviour each."""

from __future__ import annotations

import itertools

import meshoptimizer
import numpy as np
import pytest
import trimesh

from assets_pipeline.mesh import MeshError, MeshPart, Placement, SourceScene, merge_parts
from assets_pipeline.procedural.terrain import heightfield, terrain_mesh
from assets_pipeline.steps.lod import grid_shape, lod_chain
from assets_pipeline.steps.optimize import optimize_order
from assets_pipeline.steps.prepare import bake, bake_runs, group_scene, weld, with_normals
from assets_pipeline.steps.quantize import (
    PositionGrid,
    UvRange,
    decode_filter_oct_int8,
    encode_filter_exp,
    encode_filter_oct,
    encode_filter_quat,
)
from assets_pipeline.steps.sanitize import MeshLimits, sanitize


def part_of(mesh: trimesh.Trimesh, name: str = "m") -> MeshPart:
    return MeshPart(name, np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.uint32))


def test_sanitize_drops_degenerate_duplicate_triangles_and_unused_vertices():
    positions = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [5, 5, 5], [3, 0, 0]], np.float32
    )
    indices = np.array(
        [
            [0, 1, 2],
            [1, 2, 0],  # the same triangle, rotated: a duplicate
            [2, 1, 0],  # opposite winding: the back of a two-sided sheet, kept
            [0, 0, 1],  # repeated index
            [0, 1, 3],  # collinear: zero area
        ],
        np.uint32,
    )

    cleaned, report = sanitize(MeshPart("m", positions, indices))

    assert cleaned.triangle_count == 2
    assert cleaned.vertex_count == 3
    assert (report.degenerate_triangles, report.duplicate_triangles) == (2, 1)
    assert report.unreferenced_vertices == 3


def test_sanitize_finds_duplicates_in_meshes_too_big_for_packed_keys():
    # above 2**21 vertices the index triples no longer pack into one int64 key
    count = (1 << 21) + 8
    rng = np.random.default_rng(3)
    positions = rng.uniform(0, 100, (count, 3)).astype(np.float32)
    high = count - 1
    indices = np.array([[0, 1, high], [1, high, 0], [high, 1, 0], [2, 3, high - 1]], np.uint32)

    cleaned, report = sanitize(MeshPart("big", positions, indices))

    assert report.duplicate_triangles == 1
    assert cleaned.triangle_count == 3


def test_sanitize_returns_a_clean_part_unchanged():
    part = part_of(trimesh.creation.icosphere(2))

    cleaned, report = sanitize(part)

    assert cleaned is part
    assert (report.degenerate_triangles, report.duplicate_triangles) == (0, 0)


def test_sanitize_enforces_triangle_limits_with_a_clear_error():
    with pytest.raises(MeshError) as error:
        sanitize(part_of(trimesh.creation.icosphere(3)), MeshLimits(max_triangles=100))

    assert error.value.code == "too_large"
    assert "1,280 triangles" in error.value.message


def test_weld_merges_only_bit_identical_vertices():
    box = trimesh.creation.box()
    split = box.copy()
    split.unmerge_vertices()  # 36 vertices, positions repeated
    part = part_of(split)

    welded = weld(part)
    with_split_normals = weld(with_normals(part))

    assert welded.vertex_count == 8
    assert with_split_normals.vertex_count == 24  # a box keeps its hard edges


def test_a_mesh_placed_many_times_stays_one_instanced_group():
    tree = with_normals(part_of(trimesh.creation.cone(2, 6), "tree"))
    house = with_normals(part_of(trimesh.creation.box((10, 10, 6)), "house"))
    moved = np.eye(4)
    moved[:3, 3] = [100, 0, 0]
    trees = [Placement(0, m) for m in (np.eye(4), moved, moved @ moved)]
    scene = SourceScene([tree, house], [*trees, Placement(1, moved)])

    groups = group_scene(scene)

    instanced = [g for g in groups if g.instanced]
    assert len(instanced) == 1
    assert len(instanced[0].matrices) == 3
    baked = [g for g in groups if not g.instanced]
    assert baked[0].part.positions_m[:, 0].min() == pytest.approx(95.0)


def test_baking_a_mirror_keeps_faces_pointing_out():
    box = with_normals(part_of(trimesh.creation.box()))
    mirror = np.diag([-1.0, 1, 1, 1])

    mirrored = bake(box, mirror)
    tri = mirrored.positions_m[mirrored.indices].astype(np.float64)
    face = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre_to_face = tri.mean(axis=1)

    assert ((face * centre_to_face).sum(axis=1) > 0).all()


def _baked_by_hand(part: MeshPart, matrix: np.ndarray) -> MeshPart:
    """The textbook bake: points by M, normals by M's inverse transpose, winding flipped
    by a mirror."""
    linear = matrix[:3, :3]
    positions = part.positions_m.astype(np.float64) @ linear.T + matrix[:3, 3]
    assert part.normals is not None
    normals = part.normals.astype(np.float64) @ np.linalg.inv(linear)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    indices = part.indices[:, ::-1] if np.linalg.det(linear) < 0 else part.indices
    return MeshPart(
        part.name,
        positions.astype(np.float32),
        np.ascontiguousarray(indices),
        normals=normals.astype(np.float32),
    )


def test_baking_runs_in_one_pass_equals_baking_each_part_then_merging():
    parts = [
        with_normals(part_of(trimesh.creation.box((1, 2, 3)), "a")),
        with_normals(part_of(trimesh.creation.cone(1, 2), "b")),
        with_normals(part_of(trimesh.creation.icosphere(1), "c")),
    ]
    turned = trimesh.transformations.rotation_matrix(0.7, [0.2, 0.3, 1.0], [1, 2, 3])
    mirror = np.diag([1.0, -2.0, 1.0, 1.0])
    mirror[:3, 3] = [50, 0, -4]
    matrices = [turned, np.eye(4), mirror]

    one_pass = bake_runs(
        merge_parts(parts, "all"),
        [p.vertex_count for p in parts],
        [p.triangle_count for p in parts],
        matrices,
    )
    each = merge_parts([_baked_by_hand(p, m) for p, m in zip(parts, matrices, strict=True)], "all")

    assert np.allclose(one_pass.positions_m, each.positions_m, atol=1e-5)
    assert np.array_equal(one_pass.indices, each.indices)  # the mirrored run is flipped
    assert one_pass.normals is not None
    assert each.normals is not None
    assert np.allclose(one_pass.normals, each.normals, atol=1e-6)


def test_a_part_scaled_to_nothing_is_merged_away_not_an_error():
    house = with_normals(part_of(trimesh.creation.box((10, 10, 6)), "house"))
    shed = with_normals(part_of(trimesh.creation.box((2, 2, 2)), "shed"))
    hidden = np.diag([0.0, 0.0, 0.0, 1.0])  # glTF's way of hiding a node
    scene = SourceScene([house, shed], [Placement(0, np.eye(4)), Placement(1, hidden)])

    [group] = group_scene(scene)
    cleaned, report = sanitize(group.part)

    assert cleaned.triangle_count == house.triangle_count
    assert report.degenerate_triangles == shed.triangle_count
    assert cleaned.normals is not None
    assert np.isfinite(cleaned.normals).all()


def test_a_grid_terrain_chain_stays_on_its_grid_and_keeps_its_border():
    part = terrain_mesh(heightfield(1000, 1000, 65, seed=2, relief_m=40))

    chain = lod_chain(part)

    counts = [level.part.triangle_count for level in chain]
    assert counts == [8192, 2048, 512, 128, 32]
    assert all(level.simplifier == "grid" for level in chain[1:])
    for level in chain:
        assert grid_shape(level.part) is not None
        p = level.part.positions_m
        assert (p[:, 0].min(), p[:, 0].max()) == (-500, 500)


def test_a_general_mesh_chain_is_error_bounded_and_keeps_attributes():
    sphere = with_normals(part_of(trimesh.creation.icosphere(5)))

    chain = lod_chain(sphere)

    counts = [level.part.triangle_count for level in chain]
    assert len(chain) >= 4
    # each level halves the triangles unless the error bound stops it first, and every
    # level removes at least a tenth (otherwise it is not worth sending)
    assert all(0.5 * a - 3 <= b <= 0.9 * a for a, b in itertools.pairwise(counts))
    assert counts[1] == counts[0] // 2
    assert all(level.part.normals is not None for level in chain)
    errors = [level.simplifier_error for level in chain]
    assert errors == sorted(errors)


def test_vertex_order_optimisation_keeps_the_triangles_and_fetches_in_first_use_order():
    sphere = with_normals(part_of(trimesh.creation.icosphere(4)))
    shuffled_faces = np.random.default_rng(0).permutation(sphere.indices)
    part = MeshPart("s", sphere.positions_m, shuffled_faces, normals=sphere.normals)

    optimized = optimize_order(part)

    before = {tuple(np.round(t, 5).ravel()) for t in np.sort(part.positions_m[part.indices], 1)}
    after = {
        tuple(np.round(t, 5).ravel()) for t in np.sort(optimized.positions_m[optimized.indices], 1)
    }
    assert before == after
    first_use = np.unique(optimized.indices.reshape(-1), return_index=True)[1]
    assert (np.diff(first_use) > 0).all()  # vertices appear in the order triangles use them


def test_octahedral_normals_decode_the_same_with_meshoptimizer_and_stay_within_a_degree():
    rng = np.random.default_rng(4)
    normals = rng.normal(size=(5000, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)

    encoded = encode_filter_oct(normals.astype(np.float32), bits=8)
    theirs = meshoptimizer.decode_filter_oct(encoded, len(encoded), 4)[:, :3].astype(np.float64)
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    ours = decode_filter_oct_int8(encoded)

    angle = np.degrees(np.arccos(np.clip((theirs * normals).sum(axis=1), -1, 1)))
    assert angle.max() < 1.2
    assert np.abs(ours - theirs).max() < 0.02


def test_position_grids_round_trip_within_half_a_step():
    points = np.random.default_rng(1).uniform(-500, 2500, size=(1000, 3))
    grid = PositionGrid.covering(points, bits=14)

    restored = grid.dequantize(grid.quantize(points))

    assert np.abs(restored - points).max() <= grid.step_m / 2 + 1e-9
    assert grid.step_m == pytest.approx(3000 / 16383, rel=0.01)


def test_uv_ranges_cover_outliers_without_losing_precision_per_texture():
    uvs = np.array([[0.0, 0.0], [0.5, 0.25], [3.0, -2.0]], np.float32)
    uv_range = UvRange.covering(uvs, bits=12)

    q = uv_range.quantize(uvs)
    restored = q * np.array(uv_range.transform_scale()) + uv_range.offset

    assert uv_range.bits == 14  # a range of 3 textures gets 2 more bits
    assert q.max() == 2**14 - 1
    assert np.abs(restored - uvs).max() <= 0.5 / 4095


def test_uvs_within_one_texture_use_the_requested_bits():
    uvs = np.array([[0.1, 0.2], [0.9, 0.7]], np.float32)

    assert UvRange.covering(uvs, bits=12).bits == 12


def test_quaternion_and_exponential_filters_decode_with_meshoptimizer():
    rng = np.random.default_rng(8)
    quaternions = rng.normal(size=(200, 4))
    quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
    translations = rng.uniform(-3000, 3000, size=(200, 3)).astype(np.float32)

    rotations = meshoptimizer.decode_filter_quat(encode_filter_quat(quaternions), 200, 8)
    decoded = rotations.astype(np.float64) / 32767
    decoded /= np.linalg.norm(decoded, axis=1, keepdims=True)
    positions = meshoptimizer.decode_filter_exp(encode_filter_exp(translations), 200, 12)
    positions = np.frombuffer(positions.tobytes(), np.float32).reshape(-1, 3)

    assert np.abs(np.abs((decoded * quaternions).sum(axis=1)) - 1).max() < 1e-6
    assert np.abs(positions - translations).max() <= 4096 / 2**15 / 2  # half a 16-bit step
