"""Hostile GraphQL and HTTP requests: each is refused with a clear error, and the
service still answers afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backend.app import create_app
from backend.settings import Mode, Settings
from tests.api.conftest import Api
from tests.conftest import sqlite_url


async def still_answers(api: Api) -> None:
    data = await api.data("{ regions { slug } }")
    assert data["regions"]


async def errors_of(api: Api, document: str) -> list[str]:
    body = await api.query(document)
    return [error["message"] for error in body.get("errors", [])]


async def test_a_depth_50_query_is_refused(api: Api):
    nested = "{ regions { scenes { region " * 16 + "{ slug }" + " } } }" * 16
    messages = await errors_of(api, nested)
    assert any("exceeds maximum operation depth" in m for m in messages), messages
    await still_answers(api)


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: regions {{ slug }}" for i in range(count)) + " }"


async def test_a_thousand_aliases_are_refused(api: Api):
    # so long that the token limit stops it before parsing is done
    assert await errors_of(api, aliases(1000)) == [
        "Syntax Error: Document contains more than 5000 tokens. Parsing aborted."
    ]
    # and below the token limit, the alias limit
    messages = await errors_of(api, aliases(100))
    assert any("aliases" in m for m in messages), messages
    await still_answers(api)


async def test_a_100k_token_document_is_refused(api: Api):
    document = "{ regions { " + "slug " * 100_000 + "} }"
    body = await api.query(document)
    assert body.get("errors"), "a huge document must not be executed"
    await still_answers(api)


async def test_a_5_mb_body_is_refused_before_it_is_read(api: Api):
    response = await api.http.post(
        "/graphql",
        content=b'{"query": "{ regions { slug } }", "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    await still_answers(api)


async def test_a_batch_of_500_operations_is_not_executed(api: Api):
    response = await api.http.post("/graphql", json=[{"query": "{ regions { slug } }"}] * 500)
    assert response.status_code == 400
    await still_answers(api)


async def test_a_mutation_via_get_is_refused(api: Api):
    response = await api.http.get(
        "/graphql", params={"query": "mutation { issueVisitorToken { token } }"}
    )
    assert response.status_code in (400, 405)
    await still_answers(api)


async def test_an_enormous_page_size_is_a_typed_error(api: Api):
    data = await api.data("{ pois(first: 99999999) { __typename ... on Error { code message } } }")
    assert data["pois"]["code"] == "INVALID_ARGUMENT"
    await still_answers(api)


async def test_responses_carry_security_headers(api: Api):
    response = await api.http.post("/graphql", json={"query": "{ regions { slug } }"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        mode=Mode.PRODUCTION,
        data_dir=tmp_path,
        database_url=sqlite_url(tmp_path),
        admin_token="a" * 32,
        live_secret="l" * 40,
        visitor_secret="v" * 40,
        log_level="warning",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as http:
            yield http


async def test_introspection_is_off_in_production_mode(production: httpx.AsyncClient):
    response = await production.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    body = response.json()
    assert body.get("errors")
    assert "introspection" in body["errors"][0]["message"].lower()
    ok = await production.post("/graphql", json={"query": "{ regions { slug } }"})
    assert ok.json() == {"data": {"regions": []}}
