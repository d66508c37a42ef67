"""Namhae's treasure hunt on SQLite and PostgreSQL: stamps only with the condition met,
a badge whose code verifies, and progress carried to another device by a transfer code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.asset_store import LocalAssetStore
from backend.domain.errors import NotFound
from backend.domain.stamps import ImplausibleMovement, ProofMissing
from backend.scenes.loader import load_scenes
from backend.services import stamps
from backend.store.sql_store import SqlStore
from tests.conftest import BUILD_CACHE, DEMO_SCENES

TOUR = "namhae-coast:treasure-island"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
VISITOR = "v_tourist-one"


@pytest.fixture
async def hunt(store: SqlStore, tmp_path: Path) -> None:
    await load_scenes(
        store, LocalAssetStore(tmp_path / "assets"), [DEMO_SCENES / "namhae-coast"], BUILD_CACHE
    )


async def visit(store: SqlStore, visitor: str, stop: int, start: datetime) -> datetime:
    """Fly to a stop and stay there 25 s, reporting every 5 s; returns the time after."""
    tour = (await store.reads.stamp_tours_by_id([TOUR]))[TOUR]
    where = tour.stops[stop].location
    moment = start + timedelta(seconds=60)  # a minute's flight from wherever
    for step in range(6):
        await stamps.report_position(
            store, visitor, TOUR, where, moment + timedelta(seconds=5 * step)
        )
    return moment + timedelta(seconds=25)


ANSWERS = {0: "다랭이논", 2: "Sand", 3: "금산", 4: "봉화", 5: "anchovies", 6: "바람", 7: "Germany"}


async def test_the_hunt_earns_eight_stamps_and_a_verifiable_badge(store: SqlStore, hunt: None):
    tour = (await store.reads.stamp_tours_by_id([TOUR]))[TOUR]
    assert len(tour.stops) >= 8
    now = T0
    for stop in range(len(tour.stops)):
        now = await visit(store, VISITOR, stop, now)
        progress = await stamps.claim_stamp(store, VISITOR, TOUR, stop, ANSWERS.get(stop), now)
        assert stop in progress.stamps
    assert progress.badge_code is not None
    assert progress.badge_code.startswith("TL-")
    assert await store.reads.badge(progress.badge_code) == (TOUR, now)
    again = await stamps.claim_stamp(store, VISITOR, TOUR, 0, None, now)  # harmless
    assert again.badge_code == progress.badge_code


async def test_no_stamp_without_the_condition_and_nothing_is_stored(store: SqlStore, hunt: None):
    with pytest.raises(ProofMissing) as absent:
        await stamps.claim_stamp(store, VISITOR, TOUR, 0, "다랭이논", T0)
    assert absent.value.missing == "presence"
    after = await visit(store, VISITOR, 0, T0)
    with pytest.raises(ProofMissing) as wrong:
        await stamps.claim_stamp(store, VISITOR, TOUR, 0, "감자밭", after)
    assert wrong.value.missing == "answer"
    assert await store.reads.stamps_of(VISITOR, TOUR) == {}


async def test_an_impossible_jump_is_refused_and_the_last_position_kept(
    store: SqlStore, hunt: None
):
    tour = (await store.reads.stamp_tours_by_id([TOUR]))[TOUR]
    first, far = tour.stops[0].location, tour.stops[7].location  # Darangi → German Village
    await stamps.report_position(store, VISITOR, TOUR, first, T0)
    with pytest.raises(ImplausibleMovement):
        await stamps.report_position(store, VISITOR, TOUR, far, T0 + timedelta(seconds=3))
    tracker = await store.reads.tracker(VISITOR, TOUR)
    assert tracker is not None
    assert tracker.position == first


async def test_a_transfer_code_moves_progress_to_another_device_once(store: SqlStore, hunt: None):
    now = await visit(store, VISITOR, 1, T0)
    await stamps.claim_stamp(store, VISITOR, TOUR, 1, None, now)
    code, expires = await stamps.create_transfer_code(store, VISITOR, now)
    assert expires == now + stamps.TRANSFER_TTL
    assert await stamps.redeem_transfer_code(store, code.lower(), now) == VISITOR
    with pytest.raises(NotFound):
        await stamps.redeem_transfer_code(store, code, now)  # used
    late, _ = await stamps.create_transfer_code(store, VISITOR, now)
    with pytest.raises(NotFound):
        await stamps.redeem_transfer_code(store, late, now + timedelta(hours=1))  # expired
    assert set((await stamps.progress(store.reads, VISITOR, TOUR)).stamps) == {1}
