"""Operational endpoints, assets, GraphiQL, and the committed schema/operations."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import OperationType, build_schema, parse, validate

from backend.api.schema import schema_sdl
from tests.api.conftest import Api
from tests.conftest import REPO

OPERATIONS = sorted((REPO / "graphql" / "operations").glob("*.graphql"))


async def test_healthz_and_readyz_report_ok(api: Api):
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


async def test_metrics_count_requests_by_route(api: Api):
    await api.http.get("/healthz")
    body = (await api.http.get("/metrics")).text
    assert 'twinland_http_requests_total{method="GET",route="/healthz",status="2xx"}' in body


async def test_graphiql_is_served_in_dev_mode(api: Api):
    response = await api.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_assets_are_immutable_with_strong_etags_and_304(api: Api):
    data = await api.data(
        """{ scene(slug: "gokseong") { ... on Scene { layers { asset { url sha256 } } } } }"""
    )
    asset = data["scene"]["layers"][0]["asset"]
    path = asset["url"].removeprefix("http://twinland.test")
    first = await api.http.get(path, headers={"accept-encoding": "identity"})
    assert first.headers["content-type"] == "model/gltf-binary"
    assert first.headers["etag"] == f'"{asset["sha256"]}"'
    assert "immutable" in first.headers["cache-control"]
    again = await api.http.get(
        path, headers={"accept-encoding": "identity", "if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    "name", ["../twinland.db", "%2e%2e%2ftwinland.db", "0" * 64 + ".exe", "nothing.glb"]
)
async def test_asset_paths_outside_the_store_are_not_found(api: Api, name: str):
    assert (await api.http.get(f"/assets/{name}")).status_code == 404


def test_the_committed_schema_is_current():
    committed = (REPO / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    assert committed == schema_sdl(), "graphql/schema.graphql is stale: twinland schema export"


@pytest.mark.parametrize("path", OPERATIONS, ids=[p.name for p in OPERATIONS])
def test_every_example_operation_is_valid_against_the_schema(path: Path):
    schema = build_schema(schema_sdl())
    errors = validate(schema, parse(path.read_text(encoding="utf-8")))
    assert errors == [], f"{path.name}: {errors}"


VIEWER_OPERATIONS = sorted((REPO / "web" / "operations").glob("*.graphql"))


@pytest.mark.parametrize("path", VIEWER_OPERATIONS, ids=[p.name for p in VIEWER_OPERATIONS])
def test_the_web_viewers_operations_are_valid_against_the_schema(path: Path):
    schema = build_schema(schema_sdl())
    assert validate(schema, parse(path.read_text(encoding="utf-8"))) == []


def test_there_are_example_operations():
    assert len(OPERATIONS) >= 6


def _is_query(path: Path) -> bool:
    document = parse(path.read_text(encoding="utf-8"))
    return all(getattr(d, "operation", None) == OperationType.QUERY for d in document.definitions)


@pytest.mark.parametrize("path", [p for p in OPERATIONS if _is_query(p)], ids=lambda p: p.name)
async def test_example_queries_run_against_the_demo_content(api: Api, path: Path):
    document = path.read_text(encoding="utf-8")  # noqa: ASYNC240 - a small local file
    body = await api.query(document)
    assert "errors" not in body, body.get("errors")
    assert all(value is not None for value in body["data"].values())


@pytest.mark.parametrize("path", OPERATIONS, ids=[p.name for p in OPERATIONS])
def test_the_readme_shows_every_example_operation_unchanged(path: Path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"```graphql\n{path.read_text(encoding='utf-8').rstrip()}\n```" in readme


def test_the_readme_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in commands] == [
        "./scripts/serve",
        "./scripts/test",
    ]
