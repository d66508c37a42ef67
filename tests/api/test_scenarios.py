"""Development scenarios over GraphQL, against the demo content (Gokseong's two plans)."""

from __future__ import annotations

from tests.api.conftest import Api

COMPARE = """query($a: ID, $b: ID) { compareScenarios(a: $a, b: $b) {
  __typename
  ... on ScenarioComparison { onlyInA onlyInB inBoth figures { key unit a b delta } }
  ... on Error { code message } } }"""
STATE = """query($scenario: ID, $date: Date) { scene(slug: "gokseong") { ... on Scene {
  layers { key }
  state(scenario: $scenario, date: $date) { date phase { key } layers { key asset { url } } }
} } }"""


async def test_comparing_the_two_gokseong_plans_shows_layers_and_figures(api: Api):
    data = await api.data(COMPARE, {"a": "gokseong:plan-a-2030", "b": "gokseong:plan-b-2030"})
    result = data["compareScenarios"]
    assert result["onlyInA"] == ["plan-a-riverside"]
    assert result["onlyInB"] == ["plan-b-station-district"]
    assert result["inBoth"] == ["terrain", "buildings"]
    figures = {f["key"]: f for f in result["figures"]}
    assert figures["max-height"] == {
        "key": "max-height",
        "unit": "M",
        "a": 10.0,
        "b": 30.0,
        "delta": 20.0,
    }
    assert figures["new-households"]["a"] is None  # only plan B gives it


async def test_a_plan_compared_with_today(api: Api):
    data = await api.data(COMPARE, {"b": "gokseong:plan-a-2030"})
    assert data["compareScenarios"]["onlyInB"] == ["plan-a-riverside"]
    assert data["compareScenarios"]["onlyInA"] == []


async def test_the_scene_state_follows_the_timeline(api: Api):
    before = await api.data(STATE, {"scenario": "gokseong:plan-a-2030", "date": "2027-05-01"})
    during = await api.data(STATE, {"scenario": "gokseong:plan-a-2030", "date": "2029-01-01"})
    today = await api.data(STATE, {})
    assert [layer["key"] for layer in before["scene"]["layers"]] == ["terrain", "buildings"]
    assert before["scene"]["state"]["phase"]["key"] == "consultation"
    assert [layer["key"] for layer in before["scene"]["state"]["layers"]] == [
        "terrain",
        "buildings",
    ]
    shown = during["scene"]["state"]["layers"]
    assert [layer["key"] for layer in shown] == ["terrain", "buildings", "plan-a-riverside"]
    assert all(layer["asset"]["url"] for layer in shown)
    assert during["scene"]["state"]["phase"]["key"] == "first-phase"
    assert [layer["key"] for layer in today["scene"]["state"]["layers"]] == [
        "terrain",
        "buildings",
    ]


async def test_unknown_and_cross_scene_scenarios_are_typed_errors(api: Api):
    missing = await api.data(COMPARE, {"a": "gokseong:plan-z"})
    assert missing["compareScenarios"]["code"] == "NOT_FOUND"
    neither = await api.data(COMPARE, {})
    assert neither["compareScenarios"]["__typename"] == "InvalidArgumentError"
    state = await api.data(STATE, {"scenario": "namhae-coast:plan-a-2030"})
    assert state["scene"]["state"] is None


async def test_a_scenario_version_can_be_read_by_number(api: Api):
    query = """query($id: ID!, $v: Int) { scenario(id: $id, version: $v) {
      __typename ... on Scenario { version phases { key } } ... on Error { code } } }"""
    first = await api.data(query, {"id": "gokseong:plan-b-2030", "v": 1})
    assert first["scenario"]["version"] == 1
    assert [p["key"] for p in first["scenario"]["phases"]] == [
        "consultation",
        "station-square",
        "completion",
    ]
    missing = await api.data(query, {"id": "gokseong:plan-b-2030", "v": 99})
    assert missing["scenario"]["code"] == "NOT_FOUND"
