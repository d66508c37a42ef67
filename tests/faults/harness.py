"""What the fault tests share: GraphQL calls whose failures are the point (LiveServer's own
helper asserts success), readiness, and waiting for a condition with a generous deadline
instead of sleeping for a guessed time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.live.server import ORGANISER_TOKEN, LiveServer
from tests.participation.test_polls import POLLS
from tests.scenes.sample import write_scene
from tests.scenes.test_scenarios import scenario_folder

ORGANISER = {"authorization": f"Bearer {ORGANISER_TOKEN}"}
T = TypeVar("T")


async def graphql(
    http: httpx.AsyncClient,
    server: LiveServer,
    document: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The response body, errors included; an HTTP status other than 200 fails the test."""
    response = await http.post(
        f"{server.base}/graphql",
        json={"query": document, "variables": variables or {}},
        headers=headers or {},
    )
    assert response.status_code == 200, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    return body


async def readiness(http: httpx.AsyncClient, server: LiveServer) -> tuple[int, dict[str, Any]]:
    response = await http.get(f"{server.base}/readyz")
    return response.status_code, response.json()


async def until(check: Callable[[], Awaitable[T | None]], what: str, deadline_s: float = 60) -> T:
    """``check()``'s first truthy result, polled; the test fails after ``deadline_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        result = await check()
        if result:
            return result
        assert loop.time() < deadline, f"{what}: not within {deadline_s} s"
        await asyncio.sleep(0.2)


def internal_error(body: dict[str, Any]) -> bool:
    """A masked failure: no data, one error with code INTERNAL and a request id, and
    nothing of the cause (driver, address, traceback) in what the client sees."""
    errors = body.get("errors") or []
    return (
        body.get("data") is None
        and len(errors) == 1
        and errors[0]["extensions"]["code"] == "INTERNAL"
        and bool(errors[0]["extensions"]["requestId"])
        and "127.0.0.1" not in str(body)
        and "Error" not in errors[0]["message"]
    )


# Servers start in seconds when there is little to build: each layer goes through the
# asset pipeline for every client tier on a cold build cache.


def layerless_scene(root: Path) -> Path:
    """tests/scenes/sample's scene (POIs, a tour, a live session) without its layers."""
    folder = write_scene(root)
    manifest = folder / "scene.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text[: text.index("[[layers]]")], encoding="utf-8")
    return folder


def participation_scene(root: Path) -> Path:
    """The sample scene with a scenario to comment on and its polls (``POLLS`` of
    tests/participation/test_polls.py), without the terrain layer, the dearest to build."""
    folder = scenario_folder(root)
    with (folder / "scenarios.toml").open("a", encoding="utf-8") as scenarios:
        scenarios.write(POLLS)
    manifest = folder / "scene.toml"
    text = manifest.read_text(encoding="utf-8")
    terrain = text.index('[[layers]]\nkey = "terrain"')
    manifest.write_text(
        text[:terrain] + text[text.index("[[layers]]", terrain + 1) :], encoding="utf-8"
    )
    return folder
