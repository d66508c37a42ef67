"""The tourist's journey over GraphQL against the demo content: start Namhae's treasure
hunt, earn every stamp (the test moves the service's clock instead of waiting), get the
badge and verify it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import Api
from tests.conftest import REPO

OPERATIONS = REPO / "graphql" / "operations"
ANSWERS = {0: "다랭이논", 2: "sand", 3: "Geumsan", 4: "봉화", 5: "멸치", 6: "wind", 7: "독일"}


@pytest.fixture
def clock(api: Api) -> Iterator[list[datetime]]:
    now = [datetime(2026, 11, 26, 9, 0, tzinfo=UTC)]
    original = api.app.state.clock
    api.app.state.clock = lambda: now[0]
    yield now
    api.app.state.clock = original


async def test_a_tourist_earns_the_treasure_island_badge(api: Api, clock: list[datetime]):
    token = (await api.data((OPERATIONS / "issue-visitor-token.graphql").read_text()))[
        "issueVisitorToken"
    ]["token"]
    visitor = {"x-visitor-token": token}
    tour = (await api.data((OPERATIONS / "stamp-tour.graphql").read_text()))["scene"]["stampTours"][
        0
    ]
    assert len(tour["stops"]) >= 8
    assert all(stop["riddle"] is None or stop["riddle"]["text"] for stop in tour["stops"])
    # the stops' places, as a client knows them from the POIs
    stored = (await api.app.state.store.reads.stamp_tours_by_id([tour["id"]]))[tour["id"]]

    claim = (OPERATIONS / "claim-stamp.graphql").read_text()
    report = (OPERATIONS / "report-position.graphql").read_text()
    refused = await api.data(claim, {"stop": 0}, headers=visitor)
    assert refused["claimStamp"]["missing"] == "presence"

    result = None
    for index, stop in enumerate(stored.stops):
        clock[0] += timedelta(minutes=1)
        for _ in range(6):
            moved = await api.data(
                report,
                {"lat": stop.location.lat_deg, "lon": stop.location.lon_deg},
                headers=visitor,
            )
            assert moved["reportPosition"]["atStop"] == index
            clock[0] += timedelta(seconds=5)
        result = await api.data(
            claim, {"stop": index, "answer": ANSWERS.get(index)}, headers=visitor
        )
        assert result["claimStamp"]["__typename"] == "StampProgress", result
    assert result is not None
    badge = result["claimStamp"]["badge"]
    assert result["claimStamp"]["complete"] is True
    verified = await api.data(
        (OPERATIONS / "verify-badge.graphql").read_text(), {"code": badge["code"]}
    )
    assert verified["verifyBadge"]["tourId"] == tour["id"]
    fake = await api.data((OPERATIONS / "verify-badge.graphql").read_text())
    assert fake["verifyBadge"]["code"] == "NOT_FOUND"


async def test_an_impossible_jump_is_a_typed_error(api: Api, clock: list[datetime]):
    token = (await api.data((OPERATIONS / "issue-visitor-token.graphql").read_text()))[
        "issueVisitorToken"
    ]["token"]
    report = (OPERATIONS / "report-position.graphql").read_text()
    await api.data(report, headers={"x-visitor-token": token})
    clock[0] += timedelta(seconds=2)
    jump = await api.data(
        report, {"lat": 34.7998, "lon": 128.0442}, headers={"x-visitor-token": token}
    )
    assert jump["reportPosition"]["code"] == "IMPLAUSIBLE_MOVEMENT"
