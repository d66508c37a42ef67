"""Scenario rules: layer changes over a timeline, comparisons with units."""

from __future__ import annotations

from datetime import date

import pytest

from backend.domain.errors import InvalidValue
from backend.domain.i18n import LocalizedText
from backend.domain.scenario import (
    ChangeKind,
    Figure,
    LayerChange,
    Phase,
    Scenario,
    ScenarioStatus,
    Unit,
    check_layers,
    compare,
    visible_layers,
)
from backend.domain.scene import Layer, LayerKind

TEXT = LocalizedText.of("t", {"en": "text"})
LAYERS = (
    Layer("terrain", LayerKind.TERRAIN, TEXT),
    Layer("buildings", LayerKind.BUILDINGS, TEXT),
    Layer("plan-park", LayerKind.PLAN_OVERLAY, TEXT, baseline=False),
    Layer("plan-towers", LayerKind.PLAN_OVERLAY, TEXT, baseline=False),
)


def phase(key: str, starts: date, *changes: LayerChange) -> Phase:
    return Phase(key, TEXT, None, starts, None, changes)


def scenario(key: str, phases: tuple[Phase, ...], figures: tuple[Figure, ...] = ()) -> Scenario:
    return Scenario(
        "gokseong", key, 1, ScenarioStatus.PUBLISHED, TEXT, None, TEXT, None, phases, figures
    )


PLAN = scenario(
    "plan",
    (
        phase("first", date(2028, 1, 1), LayerChange(ChangeKind.ADD, "plan-park")),
        phase(
            "second",
            date(2030, 1, 1),
            LayerChange(ChangeKind.REPLACE, "plan-towers", replaces="buildings"),
        ),
    ),
    (Figure("height", TEXT, 30, Unit.METRE), Figure("green", TEXT, 40, Unit.PERCENT)),
)


def keys(layers: tuple[Layer, ...]) -> list[str]:
    return [layer.key for layer in layers]


def test_the_baseline_hides_plan_layers():
    assert keys(visible_layers(LAYERS, None, None)) == ["terrain", "buildings"]


def test_phases_take_effect_from_their_start_date():
    assert keys(visible_layers(LAYERS, PLAN, date(2027, 12, 31))) == ["terrain", "buildings"]
    assert keys(visible_layers(LAYERS, PLAN, date(2028, 1, 1))) == [
        "terrain",
        "buildings",
        "plan-park",
    ]
    assert keys(visible_layers(LAYERS, PLAN, date(2031, 1, 1))) == [
        "terrain",
        "plan-park",
        "plan-towers",
    ]
    assert visible_layers(LAYERS, PLAN, None) == visible_layers(LAYERS, PLAN, date(2031, 1, 1))
    assert PLAN.phase_on(date(2029, 6, 1)).key == "first"  # type: ignore[union-attr]
    assert PLAN.phase_on(date(2020, 1, 1)) is None


def test_a_scenario_naming_a_missing_layer_is_refused():
    broken = scenario(
        "broken", (phase("p", date(2028, 1, 1), LayerChange(ChangeKind.ADD, "harbour")),)
    )
    with pytest.raises(InvalidValue, match="layer 'harbour' does not exist"):
        check_layers(broken, LAYERS)


def test_phases_must_be_in_date_order_and_end_after_they_start():
    with pytest.raises(InvalidValue, match="date order"):
        scenario("x", (phase("b", date(2030, 1, 1)), phase("a", date(2028, 1, 1))))
    with pytest.raises(InvalidValue, match="before startsOn"):
        Phase("p", TEXT, None, date(2030, 1, 1), date(2029, 1, 1))


def test_replace_needs_what_it_replaces():
    with pytest.raises(InvalidValue, match="replaces"):
        LayerChange(ChangeKind.REPLACE, "plan-towers")
    with pytest.raises(InvalidValue, match="replaces"):
        LayerChange(ChangeKind.ADD, "plan-park", replaces="buildings")


def test_figures_carry_checked_values():
    with pytest.raises(InvalidValue, match="percentage"):
        Figure("green", TEXT, 140, Unit.PERCENT)
    with pytest.raises(InvalidValue, match="finite"):
        Figure("area", TEXT, float("nan"), Unit.SQUARE_METRE)


def test_comparing_with_the_baseline_lists_layer_and_figure_differences():
    result = compare(LAYERS, None, PLAN)
    assert result.only_in_a == ("buildings",)
    assert result.only_in_b == ("plan-park", "plan-towers")
    assert result.in_both == ("terrain",)
    height = next(f for f in result.figures if f.key == "height")
    assert (height.a, height.b, height.delta) == (None, 30, None)


def test_comparing_two_plans_pairs_figures_by_key():
    other = scenario(
        "other",
        (phase("p", date(2028, 1, 1), LayerChange(ChangeKind.ADD, "plan-towers")),),
        (Figure("height", TEXT, 45, Unit.METRE),),
    )
    result = compare(LAYERS, PLAN, other)
    height = next(f for f in result.figures if f.key == "height")
    assert (height.a, height.b, height.delta) == (30, 45, 15)
    assert result.only_in_a == ("plan-park",)
    assert result.only_in_b == ("buildings",)


def test_figures_in_different_units_are_not_compared():
    floors = scenario("floors", (), (Figure("height", TEXT, 98, Unit.FLOORS),))
    with pytest.raises(InvalidValue, match="in m in one scenario, floors in the other"):
        compare(LAYERS, PLAN, floors)
