"""Polls on scenarios, on SQLite and PostgreSQL: one ballot per visitor, closed polls and
unknown options refused with typed errors, idempotent under parallel retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from backend.asset_store import LocalAssetStore
from backend.domain.errors import InvalidValue, NotAuthorized, NotFound, RateLimited
from backend.domain.participation import IdempotencyConflict
from backend.domain.poll import AlreadyVoted, PollClosed
from backend.quota_stores import InProcessQuotaStore
from backend.scenes.loader import load_scenes
from backend.services.participation import Author, cast_vote
from backend.store.sql_store import SqlStore
from tests.conftest import BUILD_CACHE
from tests.scenes.test_scenarios import scenario_folder

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 26)
ALICE = Author("v_alice", official=False)
BOB = Author("v_bob", official=False)
POLLS = """
[[scenario.poll]]
key = "keep-trees"
question = { en = "Keep the trees?" }
options = [{ en = "Yes" }, { en = "No" }]
closes_on = 2027-06-30

[[scenario.poll]]
key = "wishes"
question = { en = "What should the park have?" }
multiple = true
options = [{ en = "Benches" }, { en = "Playground" }, { en = "Shade" }]
"""
SINGLE = "test-scene:park-2030:keep-trees"
MULTIPLE = "test-scene:park-2030:wishes"


@pytest.fixture
async def polls(store: SqlStore, tmp_path: Path) -> None:
    folder = scenario_folder(tmp_path)
    with (folder / "scenarios.toml").open("a", encoding="utf-8") as file:
        file.write(POLLS)
    await load_scenes(store, LocalAssetStore(tmp_path / "assets"), [folder], BUILD_CACHE)


async def test_each_visitor_votes_once_and_the_tally_counts_them(store: SqlStore, polls: None):
    await cast_vote(store, SINGLE, [0], ALICE, "vote-alice-1", TODAY, NOW, InProcessQuotaStore())
    await cast_vote(store, SINGLE, [1], BOB, "vote-bob-0001", TODAY, NOW, InProcessQuotaStore())
    with pytest.raises(AlreadyVoted):
        await cast_vote(
            store, SINGLE, [1], ALICE, "vote-alice-2", TODAY, NOW, InProcessQuotaStore()
        )
    assert await store.reads.poll_tally(SINGLE, 2) == ([1, 1], 2)
    assert await store.reads.ballot_of(SINGLE, ALICE.id) == (0,)


async def test_a_multiple_choice_ballot_counts_each_choice(store: SqlStore, polls: None):
    await cast_vote(
        store, MULTIPLE, [2, 0], ALICE, "vote-alice-3", TODAY, NOW, InProcessQuotaStore()
    )
    assert await store.reads.poll_tally(MULTIPLE, 3) == ([1, 0, 1], 1)


@pytest.mark.parametrize(
    ("poll", "choices", "field", "reason"),
    [
        (SINGLE, [0, 1], "options", "takes one option"),
        (SINGLE, [5], "options[0]", "option 5 does not exist"),
        (MULTIPLE, [1, 1], "options", "chosen twice"),
        (MULTIPLE, [], "options", "at least one"),
    ],
)
async def test_bad_ballots_name_the_problem_and_store_nothing(
    store: SqlStore, polls: None, poll: str, choices: list[int], field: str, reason: str
):
    with pytest.raises(InvalidValue) as caught:
        await cast_vote(
            store, poll, choices, ALICE, "vote-alice-4", TODAY, NOW, InProcessQuotaStore()
        )
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert (await store.reads.poll_tally(poll, 3))[1] == 0


async def test_a_closed_poll_takes_no_votes(store: SqlStore, polls: None):
    with pytest.raises(PollClosed, match="closed on 2027-06-30"):
        await cast_vote(
            store, SINGLE, [0], ALICE, "vote-alice-5", date(2027, 7, 1), NOW, InProcessQuotaStore()
        )


async def test_unknown_polls_and_organisers_are_refused(store: SqlStore, polls: None):
    with pytest.raises(NotFound):
        await cast_vote(
            store,
            "test-scene:park-2030:nope",
            [0],
            ALICE,
            "vote-alice-6",
            TODAY,
            NOW,
            InProcessQuotaStore(),
        )
    with pytest.raises(NotAuthorized):
        await cast_vote(
            store,
            SINGLE,
            [0],
            Author("organiser", True),
            "vote-org-001",
            TODAY,
            NOW,
            InProcessQuotaStore(),
        )


async def test_parallel_retries_of_one_vote_make_one_ballot(store: SqlStore, polls: None):
    await asyncio.gather(
        *(
            cast_vote(store, SINGLE, [1], ALICE, "vote-retry-01", TODAY, NOW, InProcessQuotaStore())
            for _ in range(6)
        )
    )
    assert await store.reads.poll_tally(SINGLE, 2) == ([0, 1], 1)
    with pytest.raises(IdempotencyConflict):
        await cast_vote(
            store, SINGLE, [0], ALICE, "vote-retry-01", TODAY, NOW, InProcessQuotaStore()
        )


async def test_a_visitor_hammering_votes_is_rate_limited_before_anything_is_stored(
    store: SqlStore, polls: None
) -> None:
    quotas = InProcessQuotaStore()
    await cast_vote(store, SINGLE, [0], ALICE, "vote-burst-00", TODAY, NOW, quotas)
    for attempt in range(1, 10):  # refused ballots still spend: they are what scripts send
        with pytest.raises(AlreadyVoted):
            await cast_vote(
                store, SINGLE, [1], ALICE, f"vote-burst-{attempt:02}", TODAY, NOW, quotas
            )
    with pytest.raises(RateLimited, match=r"too many votes \(10, then 1 per minute\)"):
        await cast_vote(store, MULTIPLE, [0], ALICE, "vote-burst-10", TODAY, NOW, quotas)
    # a retry of the acknowledged ballot is still answered while limited
    await cast_vote(store, SINGLE, [0], ALICE, "vote-burst-00", TODAY, NOW, quotas)
    assert await store.reads.ballot_of(MULTIPLE, ALICE.id) is None
    # and another visitor is not limited by Alice
    await cast_vote(store, MULTIPLE, [0], BOB, "vote-burst-bob", TODAY, NOW, quotas)
