import numpy as np
import pytest

from assets_pipeline.glb import write_glb
from assets_pipeline.mesh import MeshError
from assets_pipeline.procedural.footprints import Footprint, extrude_footprints, signed_area_m2
from assets_pipeline.procedural.terrain import heightfield, terrain_mesh
from tests.gltf_validator import problems, validate_glbs


def square(side_m: float, east_m: float = 0.0, north_m: float = 0.0) -> np.ndarray:
    return np.array(
        [
            [east_m, north_m],
            [east_m + side_m, north_m],
            [east_m + side_m, north_m + side_m],
            [east_m, north_m + side_m],
            [east_m, north_m],
        ],
        dtype=np.float64,
    )


def test_the_same_seed_gives_the_same_landscape_at_every_tier_resolution():
    fine = heightfield(2000, 2000, 257, seed=7, relief_m=100)
    coarse = heightfield(2000, 2000, 129, seed=7, relief_m=100)

    # every coarse sample coincides with every second fine sample
    assert np.allclose(coarse.heights_m, fine.heights_m[::2, ::2])


def test_different_seeds_give_different_landscapes():
    a = heightfield(2000, 2000, 65, seed=1, relief_m=100)
    b = heightfield(2000, 2000, 65, seed=2, relief_m=100)

    assert not np.allclose(a.heights_m, b.heights_m)


def test_an_east_coast_falls_into_the_sea_on_the_east_and_stays_within_relief():
    field = heightfield(3000, 3000, 129, seed=3, relief_m=80, coast="east")

    assert field.heights_m[:, -1].max() < 0  # seabed along the east edge
    assert field.heights_m[:, : 129 // 3].min() > 0  # land in the west
    assert field.heights_m.max() <= 80 + 2.0


def test_height_at_interpolates_between_samples_and_hits_samples_exactly():
    field = heightfield(1000, 1000, 3, seed=0, relief_m=50)
    h = field.heights_m

    assert field.height_at(-500, -500) == pytest.approx(h[0, 0])
    assert field.height_at(0, 0) == pytest.approx(h[1, 1])
    assert field.height_at(250, 0) == pytest.approx((h[1, 1] + h[1, 2]) / 2)
    assert field.height_at(9999, 9999) == pytest.approx(h[2, 2])  # clamped to the edge


def test_terrain_triangles_face_up_and_cover_the_extent():
    mesh = terrain_mesh(heightfield(1000, 600, 33, seed=5, relief_m=40))
    p = mesh.positions_m.astype(np.float64)
    tri = p[mesh.indices]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])

    assert (face_normals[:, 2] > 0).all()
    assert mesh.triangle_count == 2 * 32 * 32
    assert p[:, 0].min() == -500
    assert p[:, 0].max() == 500
    assert p[:, 1].min() == -300
    assert p[:, 1].max() == 300


def test_an_l_shaped_building_has_walls_facing_out_and_a_roof_at_its_height():
    ring = np.array([[0, 0], [20, 0], [20, 10], [10, 10], [10, 20], [0, 20]], dtype=np.float64)
    part = extrude_footprints([Footprint(ring[::-1], height_m=12, base_m=3)])  # clockwise input
    p = part.positions_m.astype(np.float64)
    tri = p[part.indices]
    face = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = np.array([8.0, 8.0])
    outward = (tri[:, :, :2].mean(axis=1) - centre) * face[:, :2]

    walls = np.abs(face[:, 2]) < 1e-9
    assert (outward[walls].sum(axis=1) > 0).all()
    assert (face[~walls, 2] > 0).all()  # roof faces up
    roof_area = 0.5 * face[~walls, 2].sum()
    assert roof_area == pytest.approx(300.0)
    assert p[:, 2].min() == 3
    assert p[:, 2].max() == 15


def test_signed_area_is_positive_for_counter_clockwise_rings():
    assert signed_area_m2(square(10)[:-1]) == pytest.approx(100.0)
    assert signed_area_m2(square(10)[:-1][::-1]) == pytest.approx(-100.0)


@pytest.mark.parametrize(
    "footprint",
    [
        Footprint(np.array([[0, 0], [1, 0]], dtype=np.float64), height_m=5),
        Footprint(np.array([[0, 0], [10, 0], [20, 0]], dtype=np.float64), height_m=5),
        Footprint(square(10), height_m=0),
        Footprint(np.array([[0, 0], [np.inf, 0], [0, 1]], dtype=np.float64), height_m=5),
    ],
)
def test_degenerate_footprints_are_refused(footprint: Footprint):
    with pytest.raises(MeshError) as error:
        extrude_footprints([footprint])

    assert error.value.code == "bad_footprint"


def test_procedural_terrain_and_buildings_pass_the_khronos_validator():
    field = heightfield(2000, 2000, 65, seed=11, relief_m=120, coast="south")
    buildings = extrude_footprints(
        [Footprint(square(30, 40.0 * i, 0), height_m=10 + i) for i in range(5)]
    )

    reports = validate_glbs(
        {"terrain": write_glb([terrain_mesh(field)]), "buildings": write_glb([buildings])}
    )

    for report in reports.values():
        assert report["issues"]["numErrors"] == 0, problems(report)
        assert problems(report) == []


def test_the_ground_passes_through_known_heights_and_is_untouched_far_away():
    points = np.array([[-400.0, 300.0, 55.0], [500.0, -500.0, 5.0]])
    plain = heightfield(3000, 3000, 257, seed=9, relief_m=120)
    bent = heightfield(3000, 3000, 257, seed=9, relief_m=120, ground_points_m=points)

    for east, north, height in points:
        assert bent.height_at(east, north) == pytest.approx(height, abs=0.5)
    assert bent.height_at(1400, 1400) == pytest.approx(plain.height_at(1400, 1400), abs=1e-3)
