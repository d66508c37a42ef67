import numpy as np
import pytest

from assets_pipeline.glb import read_accessor, read_glb, write_glb
from assets_pipeline.mesh import MeshError, MeshPart, vertex_normals
from tests.gltf_validator import problems, validate_glb


def triangle(**overrides: object) -> MeshPart:
    positions = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], dtype=np.float32)
    indices = np.array([[0, 1, 2]], dtype=np.uint32)
    fields: dict[str, object] = {
        "name": "triangle",
        "positions_m": positions,
        "indices": indices,
        "normals": vertex_normals(positions, indices),
        "uvs": np.array([[0, 1], [1, 1], [0, 0]], dtype=np.float32),
        "colors_rgba": np.full((3, 4), 200, dtype=np.uint8),
    }
    fields.update(overrides)
    return MeshPart(**fields)  # type: ignore[arg-type]


def test_a_written_glb_passes_the_khronos_validator_without_errors_or_warnings():
    report = validate_glb(write_glb([triangle()], extras={"scene": "test"}))

    assert report["issues"]["numErrors"] == 0, problems(report)
    assert problems(report) == []
    assert report["info"]["totalTriangleCount"] == 1


def test_enu_positions_become_gltf_y_up_with_north_along_minus_z():
    document, blob = read_glb(write_glb([triangle()]))
    accessor = document["meshes"][0]["primitives"][0]["attributes"]["POSITION"]

    positions = read_accessor(document, blob, accessor)

    assert positions.tolist() == [[0, 0, 0], [10, 0, 0], [0, 0, -10]]
    assert document["accessors"][accessor]["min"] == [0, 0, -10]


def test_normals_of_a_ground_triangle_point_up_in_gltf():
    document, blob = read_glb(write_glb([triangle()]))
    normal = document["meshes"][0]["primitives"][0]["attributes"]["NORMAL"]

    assert read_accessor(document, blob, normal).tolist() == [[0, 1, 0]] * 3


def test_the_writer_is_deterministic_so_assets_can_be_content_addressed():
    assert write_glb([triangle()], extras={"a": 1}) == write_glb([triangle()], extras={"a": 1})


def test_large_meshes_switch_to_32_bit_indices():
    n = 70_000
    positions = np.zeros((n, 3), dtype=np.float32)
    positions[:, 0] = np.arange(n)
    positions[1::2, 1] = 1.0
    indices = np.array([[i, i + 1, i + 2] for i in range(0, n - 2, 2)], dtype=np.uint32)
    document, _ = read_glb(
        write_glb(
            [
                triangle(
                    positions_m=positions, indices=indices, normals=None, uvs=None, colors_rgba=None
                )
            ]
        )
    )

    index_accessor = document["meshes"][0]["primitives"][0]["indices"]
    assert document["accessors"][index_accessor]["componentType"] == 5125


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"indices": np.array([[0, 1, 3]], dtype=np.uint32)}, "index_out_of_range"),
        (
            {
                "positions_m": np.array([[0, 0, np.nan], [1, 0, 0], [0, 1, 0]], dtype=np.float32),
                "normals": None,
            },
            "non_finite",
        ),
        ({"uvs": np.zeros((2, 2), dtype=np.float32)}, "bad_array"),
        ({"positions_m": np.zeros((3, 3), dtype=np.float64)}, "bad_array"),
        ({"indices": np.zeros((0, 3), dtype=np.uint32)}, "empty_mesh"),
        ({"roughness": 1.5}, "bad_material"),
    ],
)
def test_malformed_meshes_are_refused_with_a_code(overrides: dict[str, object], code: str):
    with pytest.raises(MeshError) as error:
        triangle(**overrides)

    assert error.value.code == code


def test_reading_something_that_is_not_a_glb_is_a_mesh_error():
    with pytest.raises(MeshError, match="bad magic"):
        read_glb(b"PK\x03\x04" + b"\0" * 40)
