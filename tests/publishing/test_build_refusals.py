"""A build process's refusals reach the job as what they are. The pipeline's MeshError and
the manifest errors do not unpickle; a build that raised one used to break the process
pool, so every refused model or source failed as ``worker_crashed`` and was retried."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path

import pytest

from backend.domain.publishing import JobFailure
from backend.domain.scene import ClientTier
from backend.publishing import work
from backend.publishing.service import _failure, build_executor
from backend.scenes.parse import read_scene_folder
from tests.scenes.sample import replace_in, write_scene


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    spawned = build_executor(1)  # the service's kind: spawned processes
    yield spawned
    spawned.shutdown(wait=True, cancel_futures=True)


async def failure_of(executor: Executor, fn: Callable[..., object], *args: object) -> JobFailure:
    """How the job fails when ``fn`` fails in a build process."""
    try:
        await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    except Exception as error:
        return _failure(error)
    raise AssertionError("the build did not fail")


async def test_a_refused_model_fails_as_invalid_model(executor: Executor, tmp_path: Path):
    folder = write_scene(tmp_path / "scenes")
    upload = tmp_path / "upload"
    upload.write_bytes(b"glTF" + (2).to_bytes(4, "little") + (64).to_bytes(4, "little"))
    scene = read_scene_folder(folder).scene
    failure = await failure_of(
        executor,
        work.build_upload_tier,
        str(upload),
        "pier.glb",
        scene,
        "buildings",
        ClientTier.MOBILE,
        str(tmp_path / "assets"),
        None,
    )
    assert failure == JobFailure(
        "invalid_model:truncated",
        "pier.glb: truncated GLB: header says 64 bytes, got 12",
        retryable=False,
    )


async def test_a_refused_source_fails_as_invalid_source(executor: Executor, tmp_path: Path):
    folder = write_scene(tmp_path / "scenes")
    geojson = folder / "sources" / "buildings.geojson"
    replace_in(geojson, '"height_m": 12.0', '"height_m": -1')
    failure = await failure_of(
        executor, work.build_folder_layer, str(folder), "buildings", None, str(tmp_path), None
    )
    assert failure == JobFailure(
        "invalid_source",
        f"{geojson}: features[0].properties.height_m: must be in (0, 1000] m",
        retryable=False,
    )
