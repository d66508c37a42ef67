"""``scenarios.toml`` → Scenario objects (published, version 1: the loader versions them),
and ``stamp-tours.toml`` → StampTour objects."""

from __future__ import annotations

from backend.domain.errors import InvalidValue
from backend.domain.i18n import LocalizedText
from backend.domain.ids import validate_slug
from backend.domain.scenario import (
    ChangeKind,
    Figure,
    LayerChange,
    Phase,
    Scenario,
    ScenarioStatus,
    Unit,
    check_layers,
)
from backend.domain.poll import Poll
from backend.domain.poi import Poi
from backend.domain.scene import Scene
from backend.domain.stamps import StampStop, StampTour, fold_answer
from backend.scenes import manifest as m


def scenario_from(scene: Scene, data: m.ScenarioModel) -> Scenario:
    scenario = Scenario(
        scene_slug=scene.slug,
        key=validate_slug("key", data.key),
        version=1,
        status=ScenarioStatus.PUBLISHED,
        name=LocalizedText.of("name", data.name),
        description=LocalizedText.optional("description", data.description),
        text_alternative=LocalizedText.of("text_alternative", data.text_alternative),
        fallback_image_url=data.fallback_image,
        phases=tuple(_phase(i, phase) for i, phase in enumerate(data.phase)),
        figures=tuple(_figure(i, figure) for i, figure in enumerate(data.figure)),
    )
    check_layers(scenario, scene.layers)
    polls_from(scene, data)  # validated here, so errors name the scenario
    return scenario


def _figure(i: int, data: m.FigureModel) -> Figure:
    try:
        unit = Unit(data.unit)
    except ValueError:
        known = ", ".join(u.value for u in Unit)
        raise InvalidValue(f"figure[{i}].unit", f"unknown unit {data.unit!r}; known: {known}") from None
    try:
        return Figure(data.key, LocalizedText.of("label", data.label), data.value, unit)
    except InvalidValue as error:
        raise error.under(f"figure[{i}]") from None


def _phase(i: int, data: m.PhaseModel) -> Phase:
    try:
        return Phase(
            key=data.key,
            name=LocalizedText.of("name", data.name),
            description=LocalizedText.optional("description", data.description),
            starts_on=data.starts_on,
            ends_on=data.ends_on,
            changes=tuple(_change(j, change) for j, change in enumerate(data.changes)),
        )
    except InvalidValue as error:
        raise error.under(f"phase[{i}]") from None


def _change(j: int, data: m.ChangeModel) -> LayerChange:
    given = [k for k in ("add", "remove", "replace") if getattr(data, k) is not None]
    if len(given) != 1:
        raise InvalidValue(f"changes[{j}]", "give exactly one of add, remove, replace")
    if data.replace is not None:
        if data.with_ is None:
            raise InvalidValue(f"changes[{j}].with", "replace needs the layer it is replaced with")
        return LayerChange(ChangeKind.REPLACE, data.with_, replaces=data.replace)
    if data.with_ is not None:
        raise InvalidValue(f"changes[{j}].with", "only replace takes with")
    if data.add is not None:
        return LayerChange(ChangeKind.ADD, data.add)
    assert data.remove is not None
    return LayerChange(ChangeKind.REMOVE, data.remove)


def polls_from(scene: Scene, data: m.ScenarioModel) -> list[Poll]:
    polls = []
    for i, poll in enumerate(data.poll):
        try:
            polls.append(
                Poll(
                    scene_slug=scene.slug,
                    scenario_key=data.key,
                    key=poll.key,
                    question=LocalizedText.of("question", poll.question),
                    options=tuple(
                        LocalizedText.of(f"options[{j}]", option)
                        for j, option in enumerate(poll.options)
                    ),
                    multiple=poll.multiple,
                    closes_on=poll.closes_on,
                )
            )
        except InvalidValue as error:
            raise error.under(f"poll[{i}]") from None
    keys = [p.key for p in polls]
    if len(set(keys)) != len(keys):
        raise InvalidValue("poll", "poll keys must be unique within a scenario")
    return polls


def stamp_tour_from(scene: Scene, data: m.StampTourModel, pois: dict[str, Poi]) -> StampTour:
    stops = []
    for i, stop in enumerate(data.stop):
        poi = pois.get(stop.poi)
        if poi is None:
            raise InvalidValue(f"stop[{i}].poi", f"{stop.poi!r} is not a POI of this scene")
        try:
            stops.append(
                StampStop(
                    poi_key=stop.poi,
                    location=poi.location,
                    radius_m=stop.radius_m,
                    dwell_s=stop.dwell_s,
                    riddle=LocalizedText.optional("riddle", stop.riddle),
                    answers=tuple(fold_answer(a) for a in stop.answers),
                    hint=LocalizedText.optional("hint", stop.hint),
                )
            )
        except InvalidValue as error:
            raise error.under(f"stop[{i}]") from None
    return StampTour(
        scene_slug=scene.slug,
        key=validate_slug("key", data.key),
        name=LocalizedText.of("name", data.name),
        description=LocalizedText.optional("description", data.description),
        badge_name=LocalizedText.of("badge", data.badge),
        stops=tuple(stops),
    )

