"""The GraphQL response cache (backend.http.graphql_cache): public answers are reused until
a table they read changes, private ones never, and every hit is still paid for."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import create_app
from backend.settings import Settings
from tests import factories as f
from tests.api.conftest import ORGANISER_TOKEN, Api
from tests.conftest import REPO, PostgresDatabases, sqlite_url

OPERATIONS = REPO / "graphql" / "operations"
SHARED_REDIS = os.environ.get("TWINLAND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def cache_count(api_or_app: Any, result: str) -> float:
    app = getattr(api_or_app, "app", api_or_app)
    return float(app.state.metrics.graphql_cache.labels(result)._value.get())


def unique(document: str) -> str:
    """The document under an operation name no other test sends (answers are shared by the
    whole session's app, as they are by every visitor of a real one)."""
    name = "Cache_" + uuid.uuid4().hex[:12]
    if document.startswith("query"):
        return document.replace("query", f"query {name}", 1)
    return f"query {name} {document}"


async def post(api: Api, document: str, variables: dict[str, Any] | None = None, **headers: str):
    response = await api.http.post(
        "/graphql", json={"query": document, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response


async def visitor_token(api: Api) -> str:
    data = await api.data((OPERATIONS / "issue-visitor-token.graphql").read_text())
    token: str = data["issueVisitorToken"]["token"]
    return token


async def test_a_public_read_is_answered_again_without_any_sql(api: Api, statement_counter):
    document = unique("{ regions { slug name { text } } }")
    first = await post(api, document)
    assert "errors" not in first.json()
    assert first.json()["data"]["regions"]
    ran = statement_counter.count
    assert ran > 0
    hits = cache_count(api, "hit")
    again = await post(api, document)
    assert again.content == first.content
    assert statement_counter.count == ran  # not one statement for the second answer
    assert cache_count(api, "hit") == hits + 1
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert again.headers["x-content-type-options"] == "nosniff"


async def test_a_committed_comment_retires_the_answers_that_read_comments_and_no_other(
    api: Api, statement_counter
):
    comments = unique('{ comments(sceneSlug: "gokseong", first: 100) { id body } }')
    regions = unique("{ regions { slug } }")
    before = (await post(api, comments)).json()["data"]["comments"]
    await post(api, regions)
    body = f"cache test {uuid.uuid4().hex}"
    written = await api.data(
        (OPERATIONS / "comment-on-scenario.graphql").read_text(),
        {"key": uuid.uuid4().hex, "body": body},
        headers={"x-visitor-token": await visitor_token(api)},
    )
    assert written["createComment"]["__typename"] == "Comment", written
    after = (await post(api, comments)).json()["data"]["comments"]
    assert [c["body"] for c in after] == [c["body"] for c in before] + [body]
    ran = statement_counter.count
    await post(api, regions)  # read nothing the comment wrote: still the kept answer
    assert statement_counter.count == ran


async def test_a_visitors_own_progress_is_never_shared(api: Api, statement_counter):
    tour = (await api.data((OPERATIONS / "stamp-tour.graphql").read_text()))["scene"]["stampTours"][
        0
    ]
    progress = unique(
        "query($t: ID!) { stampProgress(tourId: $t) { __typename "
        "... on StampProgress { stamps { stop } atStop } } }"
    )
    one, other = await visitor_token(api), await visitor_token(api)
    await post(api, progress, {"t": tour["id"]}, **{"x-visitor-token": one})
    ran, hits = statement_counter.count, cache_count(api, "hit")
    answer = await post(api, progress, {"t": tour["id"]}, **{"x-visitor-token": other})
    assert answer.json()["data"]["stampProgress"]["__typename"] == "StampProgress"
    assert statement_counter.count > ran  # computed for this visitor, not handed the other's
    assert cache_count(api, "hit") == hits


async def test_signed_in_callers_are_never_answered_from_the_cache(api: Api, statement_counter):
    document = unique("{ regions { slug } }")
    await post(api, document)
    ran, bypassed = statement_counter.count, cache_count(api, "bypass")
    await post(api, document, authorization=f"Bearer {ORGANISER_TOKEN}")
    assert statement_counter.count > ran
    assert cache_count(api, "bypass") == bypassed + 1


async def test_mutations_and_errors_are_never_kept(api: Api):
    mint = "mutation { issueVisitorToken { token } }"
    first = (await post(api, mint)).json()["data"]["issueVisitorToken"]["token"]
    second = (await post(api, mint)).json()["data"]["issueVisitorToken"]["token"]
    assert first != second
    missing = unique('{ scene(slug: "no-such-scene") { __typename ... on Scene { slug } } }')
    wrong = unique("{ regions { slug nonsense } }")
    hits = cache_count(api, "hit")
    for document in (wrong, wrong):
        body = (await post(api, document)).json()
        assert body["errors"][0]["message"].startswith("Cannot query field 'nonsense'")
    assert cache_count(api, "hit") == hits
    await post(api, missing)
    await post(api, missing)  # a typed "not found" is data, not an error: kept
    assert cache_count(api, "hit") == hits + 1


async def test_a_crowd_asking_at_once_costs_one_execution(api: Api, statement_counter):
    document = unique("{ regions { slug scenes { slug } } }")
    ran = statement_counter.count
    answers = await asyncio.gather(*(post(api, document) for _ in range(20)))
    one_execution = statement_counter.count - ran
    assert len({a.content for a in answers}) == 1
    # the same document once more, uncached, for what one execution runs
    ran = statement_counter.count
    await post(api, document.replace("Cache_", "Cache_again_"))
    assert one_execution == statement_counter.count - ran


@pytest.fixture
async def small_budget(tmp_path: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=sqlite_url(tmp_path),
        log_level="warning",
        graphql_cost_burst=25,
        graphql_cost_per_s=0.001,
        graphql_cache_max_age_s=0.2,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as http:
            yield app, http


async def test_hits_are_paid_from_the_cost_budget(small_budget: tuple[Any, httpx.AsyncClient]):
    app, http = small_budget
    document = {"query": "{ regions { slug } }"}  # costs 10: a list without `first`
    assert (await http.post("/graphql", json=document)).json() == {"data": {"regions": []}}
    assert (await http.post("/graphql", json=document)).json() == {"data": {"regions": []}}
    assert cache_count(app, "hit") == 1
    refused = (await http.post("/graphql", json=document)).json()
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "THROTTLED"
    assert error["extensions"]["cost"] == 10
    assert cache_count(app, "hit") == 1


async def test_an_answer_older_than_its_max_age_is_computed_again(
    small_budget: tuple[Any, httpx.AsyncClient],
):
    app, http = small_budget
    document = {"query": "{ regions { slug } }"}
    await http.post("/graphql", json=document)
    await asyncio.sleep(0.3)  # past max_age_s=0.2: the next answer is computed, not reused
    await http.post("/graphql", json=document)
    assert cache_count(app, "hit") == 0
    assert cache_count(app, "miss") == 2


@pytest.fixture
async def two_instances(
    tmp_path: Path, postgres_databases: PostgresDatabases
) -> AsyncIterator[list[tuple[Any, httpx.AsyncClient]]]:
    """Two instances on one PostgreSQL database and the real Redis, answers kept for ten
    minutes: only the change feed can retire them in time."""
    database = await postgres_databases.create()
    async with contextlib.AsyncExitStack() as stack:
        instances = []
        for name in ("a", "b"):
            settings = Settings(
                data_dir=tmp_path / name,
                database_url=database,
                redis_url=SHARED_REDIS,
                log_level="warning",
                graphql_cache_max_age_s=600,
            )
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://t.test")
            )
            await asyncio.wait_for(app.state.change_feed.subscribed.wait(), 30)
            instances.append((app, http))
        yield instances


async def test_a_write_on_one_instance_retires_the_answers_kept_by_another(
    two_instances: list[tuple[Any, httpx.AsyncClient]],
):
    (a, _), (b, b_http) = two_instances
    document = {"query": "{ regions { slug } }"}
    assert (await b_http.post("/graphql", json=document)).json() == {"data": {"regions": []}}
    assert (await b_http.post("/graphql", json=document)).json() == {"data": {"regions": []}}
    assert cache_count(b, "hit") == 1
    async with a.state.store.transaction() as tx:
        await tx.upsert_region(f.region("namhae"))
    deadline = asyncio.get_running_loop().time() + 30
    while True:  # the announcement crosses Redis: poll for it rather than guess a delay
        answer = (await b_http.post("/graphql", json=document)).json()
        if answer == {"data": {"regions": [{"slug": "namhae"}]}}:
            break
        assert answer == {"data": {"regions": []}}
        assert asyncio.get_running_loop().time() < deadline, "B never heard of A's write"
        await asyncio.sleep(0.05)
