"""Hostile uploads through the real path: ``POST /uploads``, ``publishLayerUpload``, the
build in a spawned build process, and the version switch.

Each attack asserts the exact refusal (the upload's HTTP status and error code, or the
publish job's failure code and message), that the service still answers, and that
nothing was published: the scene's version and layers are what they were, and a refused
upload left no file behind. The crafted files are in ``tests.hostile.crafted``.

The app is this module's own (SQLite, the small sample scene), not the shared ``api``
fixture: a job that gets through publishes a new version, and the demo scenes the API
tests read must not change under them. The database plays no part in these attacks.
Its builds run without the memory and CPU limits, so one build process serves every job
(a fresh process per job, as the limits need, costs seconds each): every refusal still
crosses back from another process as in production, and the limits have their own test
(tests/publishing/test_build_limits.py). No attack here gets as far as allocating.
"""

from __future__ import annotations

import asyncio
import json
from base64 import b64encode
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from backend.app import create_app
from backend.settings import Settings
from tests.api.conftest import ORGANISER_TOKEN
from tests.conftest import sqlite_url
from tests.hostile import crafted
from tests.scenes.sample import write_scene

AUTH = {"authorization": f"Bearer {ORGANISER_TOKEN}"}
UPLOAD_CAP_MB = 1
PUBLISH = """mutation($upload: ID!) {
  publishLayerUpload(sceneSlug: "test-scene", layerKey: "buildings", uploadId: $upload) {
    __typename ... on PublishJob { id } ... on Error { code message } } }"""
JOB = """query($id: ID!) { publishJob(id: $id) {
  status attempts resultVersion error { code message retryable } } }"""
TIERS = ("DESKTOP", "MOBILE", "VR")
SCENE_FIELDS = """... on Scene { version versions { version jobId layerKeys }
  layers { key asset { tier sha256 triangleCount tilesetUrl } } }"""
SCENE = "{%s}" % "\n".join(  # noqa: UP031 - the braces of f-strings would hide the query
    f'{tier.lower()}: scene(slug: "test-scene", tier: {tier}) {{ {SCENE_FIELDS} }}'
    for tier in TIERS
)


@dataclass
class Target:
    http: httpx.AsyncClient
    upload_dir: Path

    async def graphql(self, document: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(
            "/graphql", json={"query": document, "variables": variables or {}}, headers=AUTH
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    async def upload(self, data: bytes, name: str) -> httpx.Response:
        return await self.http.post(f"/uploads?fileName={name}", content=data, headers=AUTH)

    async def publish(self, data: bytes, name: str = "attack.glb") -> dict[str, Any]:
        """Upload ``data``, publish it as the buildings layer, and wait for the job."""
        staged = await self.upload(data, name)
        assert staged.status_code == 201, staged.text
        queued = (await self.graphql(PUBLISH, {"upload": staged.json()["uploadId"]}))[
            "publishLayerUpload"
        ]
        assert queued["__typename"] == "PublishJob", queued
        for _ in range(3000):  # 5 minutes at most, on the slowest machine
            job: dict[str, Any] = (await self.graphql(JOB, {"id": queued["id"]}))["publishJob"]
            if job["status"] in ("SUCCEEDED", "FAILED"):
                return job
            await asyncio.sleep(0.1)
        raise AssertionError(f"publish job {queued['id']} did not finish")

    async def scene(self) -> dict[str, Any]:
        """The scene as each tier sees it: version, versions and layers' assets."""
        tiers: dict[str, Any] = await self.graphql(SCENE)
        return tiers

    def kept(self) -> set[str]:
        """The files in the upload folder (names by content hash, and their .json)."""
        if not self.upload_dir.exists():
            return set()
        return {path.name for path in self.upload_dir.iterdir()}


@pytest.fixture(scope="module")
async def target(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Target]:
    root = tmp_path_factory.mktemp("upload-attacks")
    settings = Settings(
        data_dir=root / "data",
        database_url=sqlite_url(root),
        admin_token=ORGANISER_TOKEN,
        log_level="warning",
        upload_max_mb=UPLOAD_CAP_MB,
        build_memory_mb=None,
        build_cpu_s=None,
        # one organiser uploads every attack of the module: more than a day's 20 at once
        # (the upload quota has its own test in test_quota_floods.py)
        quota_scale=10,
    )
    app = create_app(settings, scene_paths=[write_scene(root / "scenes")])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://twinland.test") as http:
            yield Target(http, settings.upload_dir)


async def assert_still_answers(target: Target) -> None:
    assert (await target.http.get("/healthz")).status_code == 200
    assert (await target.scene())["mobile"]["layers"]


def refused_job(code: str, message: str) -> dict[str, Any]:
    """A job refused on its first attempt, not retried, and publishing nothing."""
    return {
        "status": "FAILED",
        "attempts": 1,
        "resultVersion": None,
        "error": {"code": code, "message": message, "retryable": False},
    }


async def assert_refused_upload(
    target: Target, data: bytes, name: str, status: int, error: dict[str, str]
) -> None:
    before, kept = await target.scene(), target.kept()
    response = await target.upload(data, name)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert target.kept() == kept
    assert await target.scene() == before
    await assert_still_answers(target)


async def assert_refused_job(target: Target, data: bytes, code: str, message: str) -> None:
    await assert_refused_job_named(target, data, "attack.glb", code, message)


async def assert_refused_job_named(
    target: Target, data: bytes, name: str, code: str, message: str
) -> None:
    before = await target.scene()
    assert await target.publish(data, name) == refused_job(code, message)
    assert await target.scene() == before
    await assert_still_answers(target)


# --- images inside models ----------------------------------------------------------------


async def test_an_image_over_the_pixel_limit_fails_its_job_before_a_pixel_is_decoded(
    target: Target,
):
    await assert_refused_job(
        target,
        crafted.square_glb(image=crafted.png_bomb(9_000, 9_000)),
        "invalid_model:texture_too_large",
        "texture 'image0': 9000x9000 px is over the 67108864 pixel limit",
    )


async def test_a_50000_by_50000_png_bomb_fails_its_job_before_a_pixel_is_decoded(
    target: Target,
):
    # over Pillow's own bomb limit too: it used to be left out quietly and the model published
    await assert_refused_job(
        target,
        crafted.square_glb(image=crafted.png_bomb(50_000, 50_000)),
        "invalid_model:texture_too_large",
        "texture 'image0': 50000x50000 px is over the 67108864 pixel limit",
    )


async def test_a_psd_labelled_png_inside_a_model_fails_its_job_by_its_content(target: Target):
    # it used to be decoded by whatever Pillow knows and re-encoded as PNG
    await assert_refused_job(
        target,
        crafted.square_glb(image=crafted.psd(), image_mime="image/png"),
        "invalid_model:unsupported_texture_format",
        "texture 'image0': a PSD image; only PNG, JPEG and WebP are accepted",
    )


async def test_a_truncated_jpeg_texture_fails_its_job_naming_the_texture(target: Target):
    await assert_refused_job(
        target,
        crafted.square_glb(image=crafted.truncated_jpeg(), image_mime="image/jpeg"),
        "invalid_model:bad_texture",
        "texture 'image0': truncated JPEG (no end-of-image marker)",
    )


async def test_a_psd_renamed_png_is_not_an_upload(target: Target):
    await assert_refused_upload(
        target,
        crafted.psd(),
        "texture.png",
        415,
        {
            "code": "unsupported_type",
            "message": "'texture.png': models must be one of .glb, .gltf, .obj, .ply, .stl",
        },
    )


async def test_a_psd_renamed_glb_is_refused_by_its_content(target: Target):
    await assert_refused_upload(
        target,
        crafted.psd(),
        "texture.glb",
        415,
        {
            "code": "type_mismatch",
            "message": "'texture.glb' is named .glb but its content is no model format "
            "twinland reads",
        },
    )


# --- URIs that point outside the file ----------------------------------------------------

OUTSIDE = [
    "../../etc/passwd",
    "/etc/passwd",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
]


@pytest.mark.parametrize("uri", OUTSIDE)
async def test_a_buffer_uri_outside_the_file_fails_its_job_unread(target: Target, uri: str):
    await assert_refused_job_named(
        target,
        crafted.square_gltf(buffer_uri=uri),
        "attack.gltf",
        "invalid_model:external_uri",
        f"attack.gltf: buffers[0].uri {uri!r} points outside the file; "
        "only embedded data: URIs are read",
    )


@pytest.mark.parametrize("uri", OUTSIDE)
async def test_an_image_uri_outside_the_file_fails_its_job_unread(target: Target, uri: str):
    await assert_refused_job(
        target,
        crafted.square_glb(image_uri=uri),
        "invalid_model:external_uri",
        f"attack.glb: images[0].uri {uri!r} points outside the file; "
        "only embedded data: URIs are read",
    )


async def test_a_data_uri_over_the_upload_cap_is_refused_while_streaming(target: Target):
    image = crafted.png() + b"\x00" * (UPLOAD_CAP_MB * 1024 * 1024)  # junk after IEND
    huge = crafted.square_gltf(image_uri="data:image/png;base64," + b64encode(image).decode())
    assert len(huge) > UPLOAD_CAP_MB * 1024 * 1024

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    before, kept = await target.scene(), target.kept()
    response = await target.http.post("/uploads?fileName=huge.gltf", content=body(), headers=AUTH)
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (
        413,
        {"error": {"code": "too_large", "message": "uploads are limited to 1048576 bytes"}},
    )
    assert target.kept() == kept
    assert await target.scene() == before
    await assert_still_answers(target)


# --- geometry ----------------------------------------------------------------------------


async def test_an_accessor_past_the_end_of_its_buffer_fails_its_job(target: Target):
    await assert_refused_job(
        target,
        crafted.square_glb(index_count=6_000),
        "invalid_model:bad_input",
        "attack.glb: accessors[2] runs past its bufferView",
    )


async def test_indices_past_the_vertex_count_fail_the_job(target: Target):
    await assert_refused_job(
        target,
        crafted.square_glb(indices=np.array([0, 1, 2, 0, 2, 4_000], dtype=np.uint16)),
        "invalid_model:bad_input",
        "attack.glb: mesh0: index out of range, a triangle points at vertex 4000 of 4",
    )


async def test_nan_positions_are_dropped_with_their_triangles_and_never_published(
    target: Target,
):
    positions = crafted.POSITIONS.copy()
    positions[3] = np.nan  # the second triangle (0, 2, 3) touches it; the first does not
    version = (await target.scene())["desktop"]["version"]
    job = await target.publish(crafted.square_glb(positions=positions))
    assert (job["status"], job["error"], job["resultVersion"]) == ("SUCCEEDED", None, version + 1)
    after = await target.scene()
    assets = [
        layer["asset"]
        for tier in after.values()
        for layer in tier["layers"]
        if layer["key"] == "buildings"
    ]
    assert [(asset["tier"], asset["triangleCount"]) for asset in assets] == [
        (tier, 1) for tier in TIERS
    ]
    for asset in assets:
        tileset = await target.http.get(asset["tilesetUrl"])
        # NaN is not JSON: a client's parser would refuse the whole tileset
        json.loads(tileset.content, parse_constant=lambda name: pytest.fail(f"{name} in tileset"))
        glb = (await target.http.get(f"/assets/{asset['sha256']}.glb")).content
        document = glb[20 : 20 + int.from_bytes(glb[12:16], "little")]
        json.loads(document, parse_constant=lambda name: pytest.fail(f"{name} in the GLB"))
    await assert_still_answers(target)


async def test_a_model_whose_positions_are_all_nan_fails_its_job(target: Target):
    await assert_refused_job(
        target,
        crafted.square_glb(positions=np.full((4, 3), np.nan, dtype=np.float32)),
        "invalid_model:empty",
        "attack.glb: no triangles to read",
    )


# --- archives ----------------------------------------------------------------------------


async def test_a_zip_bomb_renamed_glb_is_refused_by_its_content_unopened(target: Target):
    await assert_refused_upload(
        target,
        crafted.zip_bomb(),
        "city.glb",
        415,
        {
            "code": "type_mismatch",
            "message": "'city.glb' is named .glb but its content is no model format twinland reads",
        },
    )


async def test_a_zip_archive_is_not_an_upload(target: Target):
    await assert_refused_upload(
        target,
        crafted.zip_bomb(),
        "city.zip",
        415,
        {
            "code": "unsupported_type",
            "message": "'city.zip': models must be one of .glb, .gltf, .obj, .ply, .stl",
        },
    )
