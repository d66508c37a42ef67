"""Organiser mutations: role checks, validation, lifecycle rules, and nothing half-done."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import ORGANISER_TOKEN, Api

CREATE_POI = """
mutation($scene: String!, $key: String, $input: PoiInput!) {
  createPoi(sceneSlug: $scene, key: $key, input: $input) {
    __typename
    ... on Poi { id anchor { eastM northM } name(lang: "en") { text } }
    ... on Error { code message }
    ... on InvalidArgumentError { argument }
  }
}
"""


def poi_input(**overrides):
    return {
        "category": "VIEWPOINT",
        "location": {"lat": 35.1890, "lon": 129.2240},
        "name": [{"lang": "ko", "text": "새 전망대"}, {"lang": "en", "text": "New lookout"}],
        "tags": ["sunrise"],
        "openingHours": {"intervals": [{"days": "mo-su", "opens": "06:00", "closes": "20:00"}]},
    } | overrides


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_mutations_without_an_organiser_token_are_refused_and_change_nothing(api: Api):
    key = unique("lookout")
    for token in (None, "wrong-token"):
        result = await api.data(
            CREATE_POI, {"scene": "gijang-osiria", "key": key, "input": poi_input()}, token=token
        )
        assert result["createPoi"]["__typename"] == "NotAuthorizedError"
    lookup = await api.data(
        "query($id: ID!) { poi(id: $id) { __typename } }", {"id": f"gijang-osiria:{key}"}
    )
    assert lookup["poi"]["__typename"] == "NotFoundError"


async def test_an_organiser_creates_a_poi_that_search_then_finds(api: Api):
    key = unique("lookout")
    created = (
        await api.data(
            CREATE_POI,
            {"scene": "gijang-osiria", "key": key, "input": poi_input()},
            token=ORGANISER_TOKEN,
        )
    )["createPoi"]
    assert created["id"] == f"gijang-osiria:{key}"
    assert created["anchor"] is not None  # computed from the scene's georeference
    found = await api.data(
        """{ pois(filter: {text: "새 전망대", sceneSlug: "gijang-osiria"}) {
               ... on PoiConnection { edges { node { id } } } } }"""
    )
    assert created["id"] in [e["node"]["id"] for e in found["pois"]["edges"]]


async def test_a_duplicate_key_is_a_conflict(api: Api):
    variables = {"scene": "gijang-osiria", "key": unique("twice"), "input": poi_input()}
    await api.data(CREATE_POI, variables, token=ORGANISER_TOKEN)
    again = (await api.data(CREATE_POI, variables, token=ORGANISER_TOKEN))["createPoi"]
    assert again["__typename"] == "ConflictError"


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"location": {"lat": 95.0, "lon": 129.0}}, "input.location.lat"),
        ({"name": []}, "input.name"),
        ({"name": [{"lang": "fr", "text": "Belvédère"}]}, "input.name[0].lang"),
        (
            {"openingHours": {"intervals": [{"days": "mo", "opens": "25:00", "closes": "20:00"}]}},
            "input.openingHours.intervals[0].opens",
        ),
        ({"media": [{"kind": "IMAGE", "url": "http://insecure.example/a.jpg"}]}, "media.url"),
    ],
)
async def test_invalid_poi_input_is_rejected_naming_the_field(api: Api, overrides, argument):
    key = unique("bad")
    result = (
        await api.data(
            CREATE_POI,
            {"scene": "gijang-osiria", "key": key, "input": poi_input(**overrides)},
            token=ORGANISER_TOKEN,
        )
    )["createPoi"]
    assert result["__typename"] == "InvalidArgumentError"
    assert result["argument"] == argument
    lookup = await api.data(
        "query($id: ID!) { poi(id: $id) { __typename } }", {"id": f"gijang-osiria:{key}"}
    )
    assert lookup["poi"]["__typename"] == "NotFoundError"


async def test_a_poi_in_an_unknown_scene_is_not_found(api: Api):
    result = (
        await api.data(
            CREATE_POI, {"scene": "atlantis", "input": poi_input()}, token=ORGANISER_TOKEN
        )
    )["createPoi"]
    assert result["__typename"] == "NotFoundError"


async def test_update_replaces_content_and_delete_removes_an_unvisited_poi(api: Api):
    key = unique("edit")
    await api.data(
        CREATE_POI,
        {"scene": "gijang-osiria", "key": key, "input": poi_input()},
        token=ORGANISER_TOKEN,
    )
    poi_id = f"gijang-osiria:{key}"
    updated = await api.data(
        """mutation($id: ID!, $input: PoiInput!) { updatePoi(id: $id, input: $input) {
             __typename ... on Poi { category name(lang: "en") { text } } } }""",
        {
            "id": poi_id,
            "input": poi_input(category="CAFE", name=[{"lang": "en", "text": "Sea cafe"}]),
        },
        token=ORGANISER_TOKEN,
    )
    assert updated["updatePoi"] == {
        "__typename": "Poi",
        "category": "CAFE",
        "name": {"text": "Sea cafe"},
    }
    deleted = await api.data(
        "mutation($id: ID!) { deletePoi(id: $id) { __typename } }",
        {"id": poi_id},
        token=ORGANISER_TOKEN,
    )
    assert deleted["deletePoi"]["__typename"] == "DeletedPoi"


async def test_a_poi_on_a_tour_cannot_be_deleted(api: Api):
    result = await api.data(
        """mutation { deletePoi(id: "gijang-osiria:haedong-yonggungsa") {
             __typename ... on Error { message } } }""",
        token=ORGANISER_TOKEN,
    )
    assert result["deletePoi"]["__typename"] == "ConflictError"
    assert "tour" in result["deletePoi"]["message"]


CREATE_TOUR = """
mutation($scene: String!, $input: TourInput!) {
  createTour(sceneSlug: $scene, input: $input) {
    __typename
    ... on Tour { id stops { poi { id } } }
    ... on InvalidArgumentError { argument reason }
  }
}
"""


def tour_input(poi_keys):
    camera = {"position": {"eastM": 0, "northM": 0, "upM": 80}, "headingDeg": 10, "pitchDeg": -30}
    return {
        "name": [{"lang": "ko", "text": "새 투어"}],
        "stops": [{"poiKey": key, "camera": camera} for key in poi_keys],
    }


async def test_a_tour_through_pois_of_its_scene_is_created(api: Api):
    result = (
        await api.data(
            CREATE_TOUR,
            {"scene": "gijang-osiria", "input": tour_input(["haedong-yonggungsa"])},
            token=ORGANISER_TOKEN,
        )
    )["createTour"]
    assert result["__typename"] == "Tour"
    assert result["stops"][0]["poi"]["id"] == "gijang-osiria:haedong-yonggungsa"


async def test_a_tour_stop_at_a_poi_of_another_scene_is_rejected(api: Api):
    namhae = await api.data(
        """{ pois(filter: {sceneSlug: "namhae-coast"}, first: 1) {
              ... on PoiConnection { edges { node { key } } } } }"""
    )
    foreign_key = namhae["pois"]["edges"][0]["node"]["key"]
    result = (
        await api.data(
            CREATE_TOUR,
            {"scene": "gijang-osiria", "input": tour_input(["haedong-yonggungsa", foreign_key])},
            token=ORGANISER_TOKEN,
        )
    )["createTour"]
    assert result["__typename"] == "InvalidArgumentError"
    assert result["argument"] == "stops[1].poi"


LIVE = """
mutation($scene: String!, $key: String, $input: LiveSessionInput!) {
  createLiveSession(sceneSlug: $scene, key: $key, input: $input) {
    __typename ... on LiveSession { id status } ... on InvalidArgumentError { argument }
  }
}
"""
STATUS = """
mutation($id: ID!, $status: LiveSessionStatus!) {
  changeLiveSessionStatus(id: $id, status: $status) {
    __typename ... on LiveSession { status }
    ... on IllegalTransitionError { currentStatus requestedStatus }
  }
}
"""


def session_input(start: datetime, **overrides):
    return {
        "title": [{"lang": "ko", "text": "해설 투어"}, {"lang": "en", "text": "Guided tour"}],
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=1)).isoformat(),
        "capacity": 200,
    } | overrides


async def test_live_session_lifecycle_allows_only_legal_transitions(api: Api):
    start = datetime.now(UTC) + timedelta(days=3)
    key = unique("briefing")
    created = (
        await api.data(
            LIVE,
            {"scene": "gijang-osiria", "key": key, "input": session_input(start)},
            token=ORGANISER_TOKEN,
        )
    )["createLiveSession"]
    assert created == {
        "__typename": "LiveSession",
        "id": f"gijang-osiria:{key}",
        "status": "SCHEDULED",
    }
    session_id = created["id"]

    async def change(status):
        return (
            await api.data(STATUS, {"id": session_id, "status": status}, token=ORGANISER_TOKEN)
        )["changeLiveSessionStatus"]

    assert (await change("ENDED"))["__typename"] == "IllegalTransitionError"
    assert (await change("LIVE")) == {"__typename": "LiveSession", "status": "LIVE"}
    assert (await change("ENDED")) == {"__typename": "LiveSession", "status": "ENDED"}
    illegal = await change("LIVE")
    assert illegal == {
        "__typename": "IllegalTransitionError",
        "currentStatus": "ended",
        "requestedStatus": "live",
    }


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [({"capacity": 0}, "capacity"), ({"tourKey": "no-such-tour"}, "input.tourKey")],
)
async def test_invalid_live_sessions_are_rejected(api: Api, overrides, argument):
    start = datetime.now(UTC) + timedelta(days=3)
    result = (
        await api.data(
            LIVE,
            {"scene": "gijang-osiria", "input": session_input(start, **overrides)},
            token=ORGANISER_TOKEN,
        )
    )["createLiveSession"]
    assert result == {"__typename": "InvalidArgumentError", "argument": argument}


async def test_a_live_session_cannot_be_scheduled_in_the_past(api: Api):
    start = datetime.now(UTC) - timedelta(hours=1)
    result = (
        await api.data(
            LIVE, {"scene": "gijang-osiria", "input": session_input(start)}, token=ORGANISER_TOKEN
        )
    )["createLiveSession"]
    assert result == {"__typename": "InvalidArgumentError", "argument": "startsAt"}


async def test_mutations_are_refused_over_get(api: Api):
    response = await api.http.get(
        "/graphql", params={"query": 'mutation { deletePoi(id: "gijang-osiria:x") { __typename } }'}
    )
    # strawberry refuses before execution: GET must never change state (CSRF, caches)
    assert response.status_code == 400
    assert "mutations are not allowed when using get" in response.text.lower()
