"""Comments on SQLite and PostgreSQL: pinned to places, scenario versions and dates;
moderated before or after publication; rate limited; idempotent under concurrent retries;
every refusal typed and nothing stored."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.asset_store import LocalAssetStore
from backend.domain.errors import InvalidValue, NotAuthorized, NotFound, RateLimited
from backend.domain.geo import GeoPoint
from backend.domain.participation import CommentStatus, IdempotencyConflict
from backend.quota_stores import InProcessQuotaStore
from backend.scenes.loader import load_scenes
from backend.services.participation import (
    Author,
    CommentRequest,
    create_comment,
    moderate_comment,
)
from backend.services.visitors import issue_visitor_token, verify_visitor_token
from backend.store.sql_store import SqlStore
from backend.store.tables import comments
from tests.conftest import BUILD_CACHE
from tests.scenes.test_scenarios import scenario_folder

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
VISITOR = Author("v_visitor-one", official=False)
ORGANISER = Author("organiser", official=True)
NEAR_TEMPLE = GeoPoint(35.2005, 129.2010, 5.0)


@pytest.fixture
async def scene(store: SqlStore, tmp_path: Path) -> str:
    folder = scenario_folder(tmp_path)
    await load_scenes(store, LocalAssetStore(tmp_path / "assets"), [folder], BUILD_CACHE)
    return "test-scene"


def request(**overrides: object) -> CommentRequest:
    values: dict[str, object] = {
        "scene_slug": "test-scene",
        "body": "The car park should keep its trees.",
        "location": NEAR_TEMPLE,
        "scenario_id": "test-scene:park-2030",
    }
    return CommentRequest(**(values | overrides))  # type: ignore[arg-type]


async def count(store: SqlStore) -> int:
    async with store.engine.connect() as connection:
        return int(
            (
                await connection.execute(sa.select(sa.func.count()).select_from(comments))
            ).scalar_one()
        )


async def test_a_comment_pins_to_the_current_scenario_version_and_shows_after_post_moderation(
    store: SqlStore, scene: str
):
    comment = await create_comment(
        store,
        request(on_date=date(2028, 6, 1)),
        VISITOR,
        "key-00000001",
        InProcessQuotaStore(),
        NOW,
    )
    assert comment.status is CommentStatus.APPROVED  # post-moderation by default
    assert (comment.scenario_version, comment.on_date) == (1, date(2028, 6, 1))
    listed = await store.reads.list_comments(scene, statuses=[CommentStatus.APPROVED])
    assert [c.id for _, c in listed] == [comment.id]


async def test_the_same_key_returns_the_first_result_and_stores_one_row(
    store: SqlStore, scene: str
):
    limiter = InProcessQuotaStore()
    first = await create_comment(store, request(), VISITOR, "key-00000002", limiter, NOW)
    again = await create_comment(store, request(), VISITOR, "key-00000002", limiter, NOW)
    assert again == first
    assert await count(store) == 1
    with pytest.raises(IdempotencyConflict, match="different comment"):
        await create_comment(
            store, request(body="Something else"), VISITOR, "key-00000002", limiter, NOW
        )
    assert await count(store) == 1


async def test_parallel_identical_requests_store_one_row(store: SqlStore, scene: str):
    limiter = InProcessQuotaStore()
    results = await asyncio.gather(
        *(
            create_comment(store, request(), VISITOR, "key-parallel-1", limiter, NOW)
            for _ in range(8)
        )
    )
    assert len({c.id for c in results}) == 1
    assert await count(store) == 1


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"body": "   "}, "body", "is empty"),
        ({"body": "x" * 2001}, "body", "longer than 2000"),
        ({"body": "see https://a.example and https://b.example"}, "body", "2 links"),
        ({"body": "완전 씨 발 같은 계획"}, "body", "not allowed"),
        ({"location": GeoPoint(37.56, 126.97, 0.0)}, "location", "outside scene"),
        ({"scenario_id": None, "on_date": date(2028, 1, 1)}, "onDate", "needs a scenario"),
        ({"author_name": "https://spam.example"}, "authorName", "not allowed"),
    ],
)
async def test_bad_comments_are_refused_naming_the_field_and_nothing_is_stored(
    store: SqlStore, scene: str, overrides: dict[str, object], field: str, reason: str
):
    with pytest.raises(InvalidValue) as caught:
        await create_comment(
            store, request(**overrides), VISITOR, "key-00000003", InProcessQuotaStore(), NOW
        )
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert await count(store) == 0
    assert await store.reads.idempotent_result(VISITOR.id, "key-00000003") is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"scene_slug": "no-such-scene"},
        {"scenario_id": "test-scene:no-such-plan"},
        {"scenario_id": "test-scene:park-2030", "scenario_version": 7},
        {"poi_id": "test-scene:no-such-poi"},
        {"parent_id": "00000000-0000-0000-0000-000000000000"},
    ],
)
async def test_references_to_missing_things_are_not_found(
    store: SqlStore, scene: str, overrides: dict[str, object]
):
    with pytest.raises(NotFound):
        await create_comment(
            store, request(**overrides), VISITOR, "key-00000004", InProcessQuotaStore(), NOW
        )
    assert await count(store) == 0


async def test_comments_arriving_too_fast_are_rate_limited_but_retries_still_answer(
    store: SqlStore, scene: str
):
    limiter = InProcessQuotaStore()
    made = [
        await create_comment(
            store, request(body=f"comment {i}"), VISITOR, f"key-fast-{i:04}", limiter, NOW
        )
        for i in range(5)
    ]
    with pytest.raises(RateLimited) as caught:
        await create_comment(
            store, request(body="one more"), VISITOR, "key-fast-9999", limiter, NOW
        )
    assert caught.value.retry_after_s > 0
    replay = await create_comment(
        store, request(body="comment 0"), VISITOR, "key-fast-0000", limiter, NOW
    )
    assert replay == made[0]  # a retry of an acknowledged comment is not a new one
    assert await count(store) == 5


async def test_pre_moderation_holds_comments_until_approved_and_rejection_needs_a_reason(
    store: SqlStore, tmp_path: Path
):
    folder = scenario_folder(tmp_path)
    toml = (folder / "scene.toml").read_text()
    (folder / "scene.toml").write_text(
        toml.replace(
            "extent_m = { east = 2000.0, north = 2000.0 }",
            'extent_m = { east = 2000.0, north = 2000.0 }\nmoderation = "pre"',
        )
    )
    await load_scenes(store, LocalAssetStore(tmp_path / "assets"), [folder], BUILD_CACHE)
    limiter = InProcessQuotaStore()
    held = await create_comment(store, request(), VISITOR, "key-00000005", limiter, NOW)
    assert held.status is CommentStatus.PENDING
    assert await store.reads.list_comments("test-scene", statuses=[CommentStatus.APPROVED]) == []
    official = await create_comment(
        store,
        request(body="Thank you, noted.", parent_id=None),
        ORGANISER,
        "key-00000006",
        limiter,
        NOW,
    )
    assert official.official
    assert official.status is CommentStatus.APPROVED

    with pytest.raises(InvalidValue, match="needs a reason"):
        await moderate_comment(store, held.id, approve=False, reason=" ", now=NOW)
    approved = await moderate_comment(store, held.id, approve=True, reason=None, now=NOW)
    assert approved.status is CommentStatus.APPROVED
    rejected = await moderate_comment(store, held.id, approve=False, reason="off topic", now=NOW)
    assert (rejected.status, rejected.rejection_reason) == (CommentStatus.REJECTED, "off topic")


async def test_replies_go_to_approved_comments_of_the_same_scene(store: SqlStore, scene: str):
    limiter = InProcessQuotaStore()
    parent = await create_comment(store, request(), VISITOR, "key-00000007", limiter, NOW)
    reply = await create_comment(
        store,
        request(body="We will keep six of them.", parent_id=parent.id),
        ORGANISER,
        "key-00000008",
        limiter,
        NOW,
    )
    assert (reply.parent_id, reply.official) == (parent.id, True)


def test_visitor_tokens_verify_and_refuse_expired_or_forged_ones():
    issued = issue_visitor_token("s" * 40, NOW, timedelta(days=30))
    assert verify_visitor_token("s" * 40, issued.token) == issued.visitor_id
    with pytest.raises(NotAuthorized, match="not valid"):
        verify_visitor_token("t" * 40, issued.token)
    expired = issue_visitor_token(
        "s" * 40, datetime.now(UTC) - timedelta(days=2), timedelta(days=1)
    )
    with pytest.raises(NotAuthorized, match="expired"):
        verify_visitor_token("s" * 40, expired.token)
    with pytest.raises(NotAuthorized, match="not valid"):
        verify_visitor_token("s" * 40, "not-a-token")
