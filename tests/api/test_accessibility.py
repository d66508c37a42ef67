"""Accessibility: structured facts on POIs, text alternatives for tour stops."""

from __future__ import annotations

import uuid

from tests.api.conftest import ORGANISER_TOKEN, Api

CREATE = """mutation($key: String, $input: PoiInput!) {
  createPoi(sceneSlug: "gijang-osiria", key: $key, input: $input) {
    __typename ... on Poi { access } ... on InvalidArgumentError { argument reason } } }"""


def poi_input(access: list[str]) -> dict[str, object]:
    return {
        "category": "MUSEUM",
        "location": {"lat": 35.19, "lon": 129.21, "heightM": 5},
        "name": [{"lang": "en", "text": "Step-free museum"}],
        "access": access,
    }


async def test_pois_carry_structured_access_facts(api: Api):
    data = await api.data('{ poi(id: "namhae-coast:darangi-village") { ... on Poi { access } } }')
    assert data["poi"]["access"] == ["MANY_STEPS"]


async def test_organisers_set_access_facts_and_contradictions_are_refused(api: Api):
    made = await api.data(
        CREATE,
        {
            "key": f"museum-{uuid.uuid4().hex[:8]}",
            "input": poi_input(["STEP_FREE_ENTRANCE", "ACCESSIBLE_TOILET"]),
        },
        token=ORGANISER_TOKEN,
    )
    assert sorted(made["createPoi"]["access"]) == ["ACCESSIBLE_TOILET", "STEP_FREE_ENTRANCE"]
    refused = await api.data(
        CREATE,
        {
            "key": f"museum-{uuid.uuid4().hex[:8]}",
            "input": poi_input(["STEP_FREE_ROUTE", "MANY_STEPS"]),
        },
        token=ORGANISER_TOKEN,
    )
    assert refused["createPoi"]["argument"] == "poi.access"


async def test_every_tour_stop_has_a_text_alternative(api: Api):
    data = await api.data(
        """{ tours(sceneSlug: "namhae-coast") { ... on TourList { tours {
          stops { narration(lang: "en") { text } textAlternative(lang: "en") { text }
                  fallbackImageUrl } } } } }"""
    )
    stops = [stop for tour in data["tours"]["tours"] for stop in tour["stops"]]
    assert stops
    for stop in stops:
        assert stop["textAlternative"]["text"]
        if stop["narration"] is not None:
            assert stop["textAlternative"] == stop["narration"]
