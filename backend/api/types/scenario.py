"""GraphQL types of development scenarios: scenarios, phases, figures, comparisons."""

from __future__ import annotations

from datetime import date
from enum import Enum

import strawberry

from backend.api.types.common import LocalizedString, localized
from backend.api.types.objects import CtxInfo, LangArg, LayerType
from backend.domain.errors import DomainError
from backend.domain.poll import Poll
from backend.domain.scenario import (
    ChangeKind,
    Comparison,
    Figure,
    FigureDifference,
    LayerChange,
    Phase,
    Scenario,
    Unit,
)
from backend.domain.scene import ClientTier, Layer


@strawberry.enum(name="FigureUnit", description="The unit of a key figure.")
class FigureUnitEnum(Enum):
    M = Unit.METRE.value
    M2 = Unit.SQUARE_METRE.value
    HA = Unit.HECTARE.value
    PERCENT = Unit.PERCENT.value
    COUNT = Unit.COUNT.value
    FLOORS = Unit.FLOORS.value
    PARKING_SPACES = Unit.PARKING_SPACES.value
    PERSONS = Unit.PERSONS.value
    HOUSEHOLDS = Unit.HOUSEHOLDS.value
    KRW = Unit.KRW.value


@strawberry.enum(name="LayerChangeKind")
class LayerChangeKindEnum(Enum):
    ADD = ChangeKind.ADD.value
    REMOVE = ChangeKind.REMOVE.value
    REPLACE = ChangeKind.REPLACE.value


@strawberry.type(name="LayerChange", description="One change a phase makes to the layers shown.")
class LayerChangeType:
    change: strawberry.Private[LayerChange]

    @strawberry.field
    def kind(self) -> LayerChangeKindEnum:
        return LayerChangeKindEnum(self.change.kind.value)

    @strawberry.field(description="The layer shown (add, replace) or hidden (remove).")
    def layer_key(self) -> str:
        return self.change.layer_key

    @strawberry.field(description="For replace: the layer it takes the place of.")
    def replaces(self) -> str | None:
        return self.change.replaces


@strawberry.type(name="ScenarioPhase", description="A phase of a plan on its timeline.")
class PhaseType:
    phase: strawberry.Private[Phase]
    scene_slug: strawberry.Private[str]

    @strawberry.field
    def key(self) -> str:
        return self.phase.key

    @strawberry.field
    async def name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.phase.name, lang, scene_slug=self.scene_slug)
        assert text is not None
        return text

    @strawberry.field
    async def description(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(info, self.phase.description, lang, scene_slug=self.scene_slug)

    @strawberry.field
    def starts_on(self) -> date:
        return self.phase.starts_on

    @strawberry.field(description="Null: open-ended.")
    def ends_on(self) -> date | None:
        return self.phase.ends_on

    @strawberry.field
    def changes(self) -> list[LayerChangeType]:
        return [LayerChangeType(change=c) for c in self.phase.changes]


@strawberry.type(name="ScenarioFigure", description="A key figure of a scenario, with its unit.")
class FigureType:
    figure: strawberry.Private[Figure]
    scene_slug: strawberry.Private[str]

    @strawberry.field
    def key(self) -> str:
        return self.figure.key

    @strawberry.field
    async def label(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.figure.label, lang, scene_slug=self.scene_slug)
        assert text is not None
        return text

    @strawberry.field
    def value(self) -> float:
        return self.figure.value

    @strawberry.field
    def unit(self) -> FigureUnitEnum:
        return FigureUnitEnum(self.figure.unit.value)


@strawberry.type(
    name="Scenario",
    description="A development scenario of a scene (one immutable published version).",
)
class ScenarioType:
    scenario: strawberry.Private[Scenario]

    @strawberry.field(description="`<scene>:<key>`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.scenario.id)

    @strawberry.field
    def key(self) -> str:
        return self.scenario.key

    @strawberry.field
    def scene_slug(self) -> str:
        return self.scenario.scene_slug

    @strawberry.field(description="Comments and votes pin to this version.")
    def version(self) -> int:
        return self.scenario.version

    @strawberry.field
    async def name(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.scenario.name, lang, scene_slug=self.scenario.scene_slug)
        assert text is not None
        return text

    @strawberry.field
    async def description(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString | None:
        return await localized(
            info, self.scenario.description, lang, scene_slug=self.scenario.scene_slug
        )

    @strawberry.field(description="What the scenario shows, in words, for clients without 3D.")
    async def text_alternative(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(
            info, self.scenario.text_alternative, lang, scene_slug=self.scenario.scene_slug
        )
        assert text is not None
        return text

    @strawberry.field(description="A 2D rendering or panorama of the plan's end state.")
    def fallback_image_url(self) -> str | None:
        return self.scenario.fallback_image_url

    @strawberry.field(description="The timeline, in date order.")
    def phases(self) -> list[PhaseType]:
        return [
            PhaseType(phase=p, scene_slug=self.scenario.scene_slug) for p in self.scenario.phases
        ]

    @strawberry.field
    def figures(self) -> list[FigureType]:
        return [
            FigureType(figure=f, scene_slug=self.scenario.scene_slug) for f in self.scenario.figures
        ]


@strawberry.type(name="FigureComparison", description="One key figure in two scenarios.")
class FigureComparisonType:
    difference: strawberry.Private[FigureDifference]
    scene_slug: strawberry.Private[str]

    @strawberry.field
    def key(self) -> str:
        return self.difference.key

    @strawberry.field
    async def label(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.difference.label, lang, scene_slug=self.scene_slug)
        assert text is not None
        return text

    @strawberry.field
    def unit(self) -> FigureUnitEnum:
        return FigureUnitEnum(self.difference.unit.value)

    @strawberry.field(description="Null: not given for A.")
    def a(self) -> float | None:
        return self.difference.a

    @strawberry.field(description="Null: not given for B.")
    def b(self) -> float | None:
        return self.difference.b

    @strawberry.field(description="b − a, when both are given.")
    def delta(self) -> float | None:
        return self.difference.delta


@strawberry.type(
    name="ScenarioComparison",
    description="Before/after of two scenarios' end states (a null side is today's baseline).",
)
class ComparisonType:
    comparison: strawberry.Private[Comparison]
    scene_slug: strawberry.Private[str]
    a: ScenarioType | None
    b: ScenarioType | None

    @strawberry.field(description="Layers shown under A and not under B.")
    def only_in_a(self) -> list[str]:
        return list(self.comparison.only_in_a)

    @strawberry.field(description="Layers shown under B and not under A.")
    def only_in_b(self) -> list[str]:
        return list(self.comparison.only_in_b)

    @strawberry.field
    def in_both(self) -> list[str]:
        return list(self.comparison.in_both)

    @strawberry.field
    def figures(self) -> list[FigureComparisonType]:
        return [
            FigureComparisonType(difference=d, scene_slug=self.scene_slug)
            for d in self.comparison.figures
        ]


@strawberry.type(name="SceneState", description="What a scene shows under a scenario on a date.")
class SceneStateType:
    scene_slug: strawberry.Private[str]
    tier: strawberry.Private[ClientTier]
    shown: strawberry.Private[tuple[Layer, ...]]
    scenario: ScenarioType | None
    date: date | None = strawberry.field(description="Null: the plan's end state.")
    phase: PhaseType | None = strawberry.field(
        default=None, description="The latest phase started by the date."
    )

    @strawberry.field(description="The layers to show, in the scene's order.")
    def layers(self) -> list[LayerType]:
        return [
            LayerType(layer=layer, scene_slug=self.scene_slug, tier=self.tier)
            for layer in self.shown
        ]


@strawberry.type(name="Poll", description="A poll on a scenario; one ballot per visitor.")
class PollType:
    poll: strawberry.Private[Poll]

    @strawberry.field(description="`<scene>:<scenario>:<key>`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.poll.id)

    @strawberry.field
    def scenario_id(self) -> strawberry.ID:
        return strawberry.ID(self.poll.scenario_id)

    @strawberry.field
    async def question(self, info: CtxInfo, lang: LangArg = None) -> LocalizedString:
        text = await localized(info, self.poll.question, lang, scene_slug=self.poll.scene_slug)
        assert text is not None
        return text

    @strawberry.field(description="The options, in order; votes name them by index.")
    async def options(self, info: CtxInfo, lang: LangArg = None) -> list[LocalizedString]:
        out = []
        for option in self.poll.options:
            text = await localized(info, option, lang, scene_slug=self.poll.scene_slug)
            assert text is not None
            out.append(text)
        return out

    @strawberry.field(description="Several options may be chosen.")
    def multiple(self) -> bool:
        return self.poll.multiple

    @strawberry.field(description="The last day votes are taken (null: no end).")
    def closes_on(self) -> date | None:
        return self.poll.closes_on

    @strawberry.field
    def open(self) -> bool:
        return self.poll.is_open(date.today())

    @strawberry.field(description="Votes per option, in option order.")
    async def tally(self, info: CtxInfo) -> list[int]:
        votes, _ = await info.context.store.reads.poll_tally(self.poll.id, len(self.poll.options))
        return votes

    @strawberry.field(description="How many visitors voted.")
    async def ballots(self, info: CtxInfo) -> int:
        _, count = await info.context.store.reads.poll_tally(self.poll.id, len(self.poll.options))
        return count

    @strawberry.field(description="The caller's own choices (X-Visitor-Token), if voted.")
    async def my_choices(self, info: CtxInfo) -> list[int] | None:
        try:
            author = await info.context.author()
        except DomainError:
            return None
        ballot = await info.context.store.reads.ballot_of(self.poll.id, author.id)
        return list(ballot) if ballot is not None else None
