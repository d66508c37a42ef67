"""GraphQL queries of development scenarios: one scenario (any version), comparisons."""

from __future__ import annotations

from typing import Annotated

import strawberry

from backend.api.errors import InvalidArgumentError, NotFoundError, from_domain
from backend.api.types.objects import CtxInfo
from backend.api.types.scenario import ComparisonType, ScenarioType
from backend.domain.errors import DomainError, InvalidValue, NotFound
from backend.domain.scenario import Scenario, compare

ScenarioResult = Annotated[
    ScenarioType | NotFoundError | InvalidArgumentError, strawberry.union("ScenarioResult")
]
ScenarioComparisonResult = Annotated[
    ComparisonType | NotFoundError | InvalidArgumentError,
    strawberry.union("ScenarioComparisonResult"),
]


async def _scenario(info: CtxInfo, id: str, version: int | None, argument: str) -> Scenario:
    scene_slug, _, key = id.partition(":")
    if not key:
        raise InvalidValue(argument, "a scenario id is <scene>:<key>")
    if version is None:
        found = (await info.context.store.reads.scenarios_by_id([id])).get(id)
    else:
        versions = await info.context.store.reads.scenario_versions(scene_slug, key)
        found = next((s for s in versions if s.version == version), None)
    if found is None:
        raise NotFound("scenario", id if version is None else f"{id}@{version}")
    return found


@strawberry.type
class ScenarioQuery:
    @strawberry.field(
        description="A development scenario: its newest version, or `version` (every "
        "published version stays readable: comments point at them)."
    )
    async def scenario(
        self, info: CtxInfo, id: strawberry.ID, version: int | None = None
    ) -> ScenarioResult:
        try:
            return ScenarioType(scenario=await _scenario(info, str(id), version, "id"))
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]  # from_domain's union is wider than this result's

    @strawberry.field(
        description="Before/after of two scenarios of one scene (null: today's baseline): "
        "which layers differ and each key figure side by side."
    )
    async def compare_scenarios(
        self, info: CtxInfo, a: strawberry.ID | None = None, b: strawberry.ID | None = None
    ) -> ScenarioComparisonResult:
        try:
            if a is None and b is None:
                raise InvalidValue("a", "give at least one scenario")
            first = await _scenario(info, str(a), None, "a") if a is not None else None
            second = await _scenario(info, str(b), None, "b") if b is not None else None
            slugs = {s.scene_slug for s in (first, second) if s is not None}
            if len(slugs) != 1:
                raise InvalidValue("b", "both scenarios must belong to the same scene")
            slug = slugs.pop()
            scene = await info.context.loaders.scenes.load(slug)
            if scene is None:
                raise NotFound("scene", slug)
            return ComparisonType(
                comparison=compare(scene.layers, first, second),
                scene_slug=slug,
                a=ScenarioType(scenario=first) if first else None,
                b=ScenarioType(scenario=second) if second else None,
            )
        except DomainError as error:
            return from_domain(error)  # type: ignore[return-value]  # from_domain's union is wider than this result's
