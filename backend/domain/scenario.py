"""Development scenarios: what a scene would look like under a plan, and when.

A scene's *baseline* is its layers as they stand today (layers with ``baseline`` set).
A scenario changes that set — layers added, removed or replaced by plan layers of the same
scene — in phases on a timeline: each phase's changes take effect from its start date.
The scenario's key figures (floor area, height, green-space ratio …) carry their units,
so two scenarios compare only like with like.

Scenarios are versioned: a published version is immutable; a revision is a new version
(comments and polls pin to a version, so what a citizen commented on never changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import Enum

from backend.domain.errors import InvalidValue
from backend.domain.i18n import LocalizedText
from backend.domain.ids import validate_slug
from backend.domain.scene import Layer

MAX_PHASES = 20
MAX_FIGURES = 30
MAX_CHANGES_PER_PHASE = 50


class Unit(str, Enum):
    """Units a key figure may carry; comparisons refuse to mix them."""

    METRE = "m"
    SQUARE_METRE = "m2"
    HECTARE = "ha"
    PERCENT = "percent"
    COUNT = "count"
    FLOORS = "floors"
    PARKING_SPACES = "parking-spaces"
    PERSONS = "persons"
    HOUSEHOLDS = "households"
    KRW = "krw"


class ChangeKind(str, Enum):
    ADD = "add"  # show a plan layer
    REMOVE = "remove"  # hide a layer (a demolished quarter)
    REPLACE = "replace"  # show ``layer`` instead of ``replaces``


class ScenarioStatus(str, Enum):
    DRAFT = "draft"
    PUBLISHED = "published"


@dataclass(frozen=True, slots=True)
class LayerChange:
    kind: ChangeKind
    layer_key: str
    replaces: str | None = None  # for REPLACE: the layer it takes the place of

    def __post_init__(self) -> None:
        validate_slug("change.layer", self.layer_key)
        if (self.kind is ChangeKind.REPLACE) != (self.replaces is not None):
            raise InvalidValue("change.replaces", "is required for replace and only for replace")
        if self.replaces is not None:
            validate_slug("change.replaces", self.replaces)


@dataclass(frozen=True, slots=True)
class Figure:
    """A key figure with its unit, e.g. green-space ratio 34.5 percent."""

    key: str
    label: LocalizedText
    value: float
    unit: Unit

    def __post_init__(self) -> None:
        validate_slug("figure.key", self.key)
        if not math.isfinite(self.value):
            raise InvalidValue(f"figures.{self.key}.value", "must be a finite number")
        if self.unit is Unit.PERCENT and not 0 <= self.value <= 100:
            raise InvalidValue(f"figures.{self.key}.value", "a percentage is in [0, 100]")


@dataclass(frozen=True, slots=True)
class Phase:
    key: str
    name: LocalizedText
    description: LocalizedText | None
    starts_on: date
    ends_on: date | None  # None: open-ended (the plan's final state)
    changes: tuple[LayerChange, ...] = ()

    def __post_init__(self) -> None:
        validate_slug("phase.key", self.key)
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise InvalidValue(f"phases.{self.key}.endsOn", "is before startsOn")
        if len(self.changes) > MAX_CHANGES_PER_PHASE:
            raise InvalidValue(f"phases.{self.key}.changes", f"at most {MAX_CHANGES_PER_PHASE}")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One version of a scenario of a scene; ``id`` is ``<scene>:<key>``."""

    scene_slug: str
    key: str
    version: int
    status: ScenarioStatus
    name: LocalizedText
    description: LocalizedText | None
    text_alternative: LocalizedText  # what the scenario shows, for clients without 3D
    fallback_image_url: str | None  # a 2D rendering or panorama of the end state
    phases: tuple[Phase, ...]
    figures: tuple[Figure, ...]

    def __post_init__(self) -> None:
        validate_slug("scenario.key", self.key)
        if self.version < 1:
            raise InvalidValue("scenario.version", "must be >= 1")
        if len(self.phases) > MAX_PHASES:
            raise InvalidValue("scenario.phases", f"at most {MAX_PHASES}")
        if len(self.figures) > MAX_FIGURES:
            raise InvalidValue("scenario.figures", f"at most {MAX_FIGURES}")
        keys = [p.key for p in self.phases]
        if len(set(keys)) != len(keys):
            raise InvalidValue("scenario.phases", "phase keys must be unique")
        starts = [p.starts_on for p in self.phases]
        if starts != sorted(starts):
            raise InvalidValue("scenario.phases", "phases must be in date order")
        figure_keys = [f.key for f in self.figures]
        if len(set(figure_keys)) != len(figure_keys):
            raise InvalidValue("scenario.figures", "figure keys must be unique")
        if self.fallback_image_url is not None and not self.fallback_image_url.startswith(
            ("https://", "/")
        ):
            raise InvalidValue("scenario.fallbackImageUrl", "must be https:// or a site path")

    @property
    def id(self) -> str:
        return f"{self.scene_slug}:{self.key}"

    def changes_until(self, day: date | None) -> list[LayerChange]:
        """The changes in effect on ``day`` (all of them for None: the end state)."""
        return [
            change
            for phase in self.phases
            if day is None or phase.starts_on <= day
            for change in phase.changes
        ]

    def phase_on(self, day: date) -> Phase | None:
        """The latest phase started by ``day`` (None: before the plan begins)."""
        started = [p for p in self.phases if p.starts_on <= day]
        return started[-1] if started else None


def check_layers(scenario: Scenario, layers: tuple[Layer, ...]) -> None:
    """Every layer a scenario names must exist in its scene: a scenario never shows a
    hole where a layer was promised."""
    known = {layer.key for layer in layers}
    for phase in scenario.phases:
        for i, change in enumerate(phase.changes):
            for name in (change.layer_key, change.replaces):
                if name is not None and name not in known:
                    raise InvalidValue(
                        f"scenarios.{scenario.key}.phases.{phase.key}.changes[{i}]",
                        f"layer {name!r} does not exist in scene {scenario.scene_slug!r}",
                    )


def visible_layers(
    layers: tuple[Layer, ...], scenario: Scenario | None, day: date | None
) -> tuple[Layer, ...]:
    """The scene's layers as they stand under ``scenario`` on ``day`` (None: today's
    baseline for no scenario, the plan's end state for no day), in the scene's order."""
    shown = {layer.key for layer in layers if layer.baseline}
    if scenario is not None:
        for change in scenario.changes_until(day):
            if change.kind is ChangeKind.ADD:
                shown.add(change.layer_key)
            elif change.kind is ChangeKind.REMOVE:
                shown.discard(change.layer_key)
            else:
                assert change.replaces is not None
                shown.discard(change.replaces)
                shown.add(change.layer_key)
    return tuple(layer for layer in layers if layer.key in shown)


@dataclass(frozen=True, slots=True)
class FigureDifference:
    key: str
    label: LocalizedText
    unit: Unit
    a: float | None  # None: the figure is not given for that scenario
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True, slots=True)
class Comparison:
    only_in_a: tuple[str, ...]  # layer keys shown under A (end state) and not under B
    only_in_b: tuple[str, ...]
    in_both: tuple[str, ...]
    figures: tuple[FigureDifference, ...]


def compare(layers: tuple[Layer, ...], a: Scenario | None, b: Scenario | None) -> Comparison:
    """Before/after of two scenarios' end states (None: today's baseline). Figures are
    paired by key; a key whose units differ between the two is refused."""
    shown_a = [layer.key for layer in visible_layers(layers, a, None)]
    shown_b = [layer.key for layer in visible_layers(layers, b, None)]
    figures_a = {f.key: f for f in (a.figures if a else ())}
    figures_b = {f.key: f for f in (b.figures if b else ())}
    differences = []
    for key in [*figures_a, *(k for k in figures_b if k not in figures_a)]:
        fa, fb = figures_a.get(key), figures_b.get(key)
        if fa is not None and fb is not None and fa.unit is not fb.unit:
            raise InvalidValue(
                f"figures.{key}",
                f"is in {fa.unit.value} in one scenario, {fb.unit.value} in the other",
            )
        some = fa or fb
        assert some is not None
        differences.append(
            FigureDifference(
                key, some.label, some.unit, fa.value if fa else None, fb.value if fb else None
            )
        )
    return Comparison(
        only_in_a=tuple(k for k in shown_a if k not in shown_b),
        only_in_b=tuple(k for k in shown_b if k not in shown_a),
        in_both=tuple(k for k in shown_a if k in shown_b),
        figures=tuple(differences),
    )
