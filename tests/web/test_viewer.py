"""The reference viewer in a real browser (Debian's Chromium, software WebGL): every demo
scene's tilesets decode and render, places are listed in the chosen language, a tour
plays and a live session's chat round-trips. Screenshots land in test-artifacts/viewer/.
Fails, never skips, without Chromium or the viewer's npm modules (scripts/test installs
both)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO
from tests.live.server import LiveServer

DRIVER = Path(__file__).with_name("drive.mjs")
ARTIFACTS = REPO / "test-artifacts" / "viewer"
LIVE_SESSION = "gijang-osiria:osiria-sunset-tour"
SCENES = ("gijang-osiria", "namhae-coast", "gokseong", "jeju-seongsan", "wanju-innovation-city")
POI_NAMES = """query($slug: String!, $lang: String) { pois(filter: {sceneSlug: $slug, lang: $lang},
  first: 100) { ... on PoiConnection { edges { node { name(lang: $lang) { text } } } } } }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    assert Path("/usr/bin/chromium").exists(), (
        "Debian's chromium is missing: scripts/test installs it"
    )
    assert (REPO / "web" / "node_modules" / "three").is_dir(), "run npm ci --prefix web"
    running = LiveServer(tmp_path_factory.mktemp("viewer"))
    running.set_status(LIVE_SESSION, "LIVE")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pages(server: LiveServer) -> list[dict[str, Any]]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests = [
        {
            "scene": slug,
            "tier": "desktop",
            "lang": "ko",
            "screenshot": str(ARTIFACTS / f"{slug}-desktop.png"),
        }
        for slug in SCENES
    ]
    requests.append(
        {
            "scene": "gijang-osiria",
            "tier": "mobile",
            "lang": "en",
            "screenshot": str(ARTIFACTS / "gijang-osiria-mobile-tour.png"),
            "tour": 1,
            "live": "hello from the browser",
        }
    )
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"
    done = subprocess.run(
        [node, str(DRIVER), json.dumps({"base": server.base, "pages": requests})],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_every_demo_scene_renders_its_tilesets_in_chromium(pages: list[dict[str, Any]]):
    for page in pages:
        state, where = page["before"], page["request"]["scene"]
        assert state["errors"] == [], where
        assert page["consoleErrors"] == [], where
        assert state["ready"], where
        assert state["layers"] >= 1, where
        assert state["tilesLoaded"] >= state["layers"], where
        pixels = np.asarray(Image.open(page["request"]["screenshot"]).convert("L"), dtype=float)
        assert pixels.std() > 10, f"{where}: the screenshot is blank"  # something was drawn


def test_places_are_listed_in_the_chosen_language(pages: list[dict[str, Any]], server: LiveServer):
    for page in pages:
        request = page["request"]
        data = server.graphql(POI_NAMES, {"slug": request["scene"], "lang": request["lang"]})
        expected = [e["node"]["name"]["text"] for e in data["pois"]["edges"]]
        assert page["poiNames"] == expected, request["scene"]
        assert page["before"]["pois"] == len(expected)


def test_a_tour_plays_and_a_live_chat_round_trips_through_the_page(pages: list[dict[str, Any]]):
    [mobile] = [p for p in pages if p["request"]["tier"] == "mobile"]

    assert mobile["after"]["tourStops"] >= 1
    assert mobile["after"]["live"]["role"] == "attendee"
    assert "hello from the browser" in mobile["after"]["chat"]


def test_the_renderer_puts_every_tileset_root_within_10_m_of_the_scene_origin(
    pages: list[dict[str, Any]], server: LiveServer
):
    query = """query($slug: String!) {
      scene(slug: $slug) { ... on Scene { origin { lat lon heightM } } } }"""
    for page in pages:
        origin = server.graphql(query, {"slug": page["request"]["scene"]})["scene"]["origin"]
        placements = page["before"]["placements"]
        assert len(placements) == page["before"]["layers"]
        for placed in placements:
            north_m = (placed["lat"] - origin["lat"]) * 111_320
            east_m = (placed["lon"] - origin["lon"]) * 111_320 * np.cos(np.radians(origin["lat"]))
            assert np.hypot(north_m, east_m) < 10, (page["request"]["scene"], placed)
            assert abs(placed["height"] - origin["heightM"]) < 10, (
                page["request"]["scene"],
                placed,
            )
