"""Floods of cheap requests: each quota refuses with its typed error and the wait, and
the service still answers afterwards. The app runs with TWINLAND_QUOTA_SCALE=0.05, so a
quota of 60 allows 3 and one of 20 allows 1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backend.app import create_app
from backend.settings import Settings
from tests.conftest import sqlite_url

ORGANISER = {"authorization": "Bearer twinland-dev-admin"}


@pytest.fixture
async def tight(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path, database_url=sqlite_url(tmp_path), log_level="warning", quota_scale=0.05
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as http:
            yield http


async def graphql(http: httpx.AsyncClient, query: str, **headers: str) -> dict:
    response = await http.post("/graphql", json={"query": query}, headers=headers)
    body: dict = response.json()
    return body


async def still_answers(http: httpx.AsyncClient) -> None:
    assert await graphql(http, "{ regions { slug } }") == {"data": {"regions": []}}


async def test_minting_visitor_tokens_from_one_address_is_rate_limited(
    tight: httpx.AsyncClient,
):
    mint = "mutation { issueVisitorToken { token } }"
    minted = [await graphql(tight, mint) for _ in range(4)]
    assert all("token" in m["data"]["issueVisitorToken"] for m in minted[:3])
    [error] = minted[3]["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfterS"] <= 600  # 6 an hour at this scale
    assert error["message"].startswith("too many visitor tokens (3, then 6 per hour)")
    await still_answers(tight)


async def test_a_flood_of_live_joins_is_rate_limited(tight: httpx.AsyncClient):
    join = """mutation { joinLiveSession(id: "gijang-osiria:no-such-session", name: "x") {
        __typename ... on RateLimitedError { retryAfterS message } } }"""
    answers = [(await graphql(tight, join))["data"]["joinLiveSession"] for _ in range(4)]
    assert [a["__typename"] for a in answers] == ["NotFoundError"] * 3 + ["RateLimitedError"]
    assert 0 < answers[3]["retryAfterS"] <= 20  # 3 a minute at this scale
    await still_answers(tight)


async def test_uploads_past_the_daily_quota_get_429_with_retry_after(
    tight: httpx.AsyncClient,
):
    first = await tight.post("/uploads?fileName=a.glb", content=b"not a model", headers=ORGANISER)
    assert first.status_code == 415  # spent, even though refused: floods are floods
    second = await tight.post("/uploads?fileName=a.glb", content=b"not a model", headers=ORGANISER)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limited"
    assert 0 < int(second.headers["retry-after"]) <= 86_400 / 5
    await still_answers(tight)
