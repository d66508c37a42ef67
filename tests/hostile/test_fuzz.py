"""Property-based fuzzing, bounded for CI (FUZZ_EXAMPLES per target; raise it locally with
TWINLAND_FUZZ_EXAMPLES, or run fuzz/ under atheris for hours):

- GraphQL operations generated from our schema (hypothesis-graphql), valid ones and
  invalid ones: every answer is a GraphQL answer, never an unhandled error;
- the mesh and image readers on mutated real files: a typed MeshError or success, never
  anything else.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import UTC, date, datetime

import hypothesis.strategies as st
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import Mode, from_schema, nodes
from PIL import Image

from assets_pipeline.mesh import MeshError, Texture
from assets_pipeline.readers import read_asset
from assets_pipeline.textures import encode_texture
from backend.api.schema import schema_sdl
from tests.api.conftest import Api

FUZZ_EXAMPLES = int(os.environ.get("TWINLAND_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every CI run: a failure reproduces
)
SCALARS = {
    "Date": st.dates(date(2000, 1, 1), date(2100, 1, 1)).map(lambda d: nodes.String(d.isoformat())),
    "DateTime": st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)).map(
        lambda d: nodes.String(d.replace(tzinfo=UTC).isoformat())
    ),
}
SCHEMA = schema_sdl()


def assert_graphql_answer(status: int, body: object) -> None:
    """A GraphQL answer: data and/or errors, none of them an internal failure."""
    assert status in (200, 400), status
    assert isinstance(body, dict), body
    assert "data" in body or "errors" in body, body
    for error in body.get("errors") or []:
        assert error.get("extensions", {}).get("code") != "INTERNAL", error


@FUZZ
@given(document=from_schema(SCHEMA, custom_scalars=SCALARS))
async def test_generated_operations_get_graphql_answers(api: Api, document: str) -> None:
    response = await api.http.post("/graphql", json={"query": document})
    assert_graphql_answer(response.status_code, response.json())


@FUZZ
@given(document=from_schema(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE))
async def test_invalid_generated_operations_are_refused_cleanly(api: Api, document: str) -> None:
    response = await api.http.post("/graphql", json={"query": document})
    assert_graphql_answer(response.status_code, response.json())


# --- readers ------------------------------------------------------------------------------


def assert_typed_failure_or_none(call: Callable[[], object]) -> None:
    """Success, or a MeshError with a code: never another exception."""
    failure: MeshError | None = None
    try:
        call()
    except MeshError as error:
        failure = error
    assert failure is None or failure.code


def _glb() -> bytes:
    import trimesh

    return bytes(trimesh.creation.box(extents=(2, 3, 4)).export(file_type="glb"))


def _png() -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


GLB, PNG = _glb(), _png()


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """The file with a few bytes overwritten, cut short, or grown with junk."""
    flips = st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), max_size=8)

    def apply(edits: list[tuple[int, int]], cut: int, tail: bytes) -> bytes:
        data = bytearray(seed)
        for position, value in edits:
            data[position] = value
        return bytes(data[: max(1, len(data) - cut)]) + tail

    return st.builds(apply, flips, st.integers(0, 64), st.binary(max_size=32))


@FUZZ
@given(data=mutated(GLB))
def test_mutated_glb_files_fail_with_a_mesh_error_or_load(data: bytes) -> None:
    assert_typed_failure_or_none(lambda: read_asset("fuzz.glb", data))


@FUZZ
@given(data=mutated(PNG))
def test_mutated_png_textures_fail_with_a_mesh_error_or_encode(data: bytes) -> None:
    texture = Texture("fuzz.png", data, "image/png")
    assert_typed_failure_or_none(lambda: encode_texture(texture, "mobile", target_psnr_db=None))
