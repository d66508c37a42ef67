"""Polls on development scenarios: single or multiple choice, one ballot per visitor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from backend.domain.errors import Conflict, DomainError, InvalidValue
from backend.domain.i18n import LocalizedText
from backend.domain.ids import validate_slug

MAX_OPTIONS = 12


class PollClosed(DomainError):
    code = "poll_closed"


class AlreadyVoted(Conflict):
    code = "already_voted"


@dataclass(frozen=True, slots=True)
class Poll:
    """``id`` is ``<scene>:<scenario>:<key>``; it closes at the end of ``closes_on``
    (the region's calendar day is close enough: a day's grace either way is harmless)."""

    scene_slug: str
    scenario_key: str
    key: str
    question: LocalizedText
    options: tuple[LocalizedText, ...]
    multiple: bool
    closes_on: date | None

    def __post_init__(self) -> None:
        validate_slug("poll.key", self.key)
        if not 2 <= len(self.options) <= MAX_OPTIONS:
            raise InvalidValue("poll.options", f"give 2 to {MAX_OPTIONS} options")

    @property
    def id(self) -> str:
        return f"{self.scene_slug}:{self.scenario_key}:{self.key}"

    @property
    def scenario_id(self) -> str:
        return f"{self.scene_slug}:{self.scenario_key}"

    def is_open(self, today: date) -> bool:
        return self.closes_on is None or today <= self.closes_on


def check_ballot(poll: Poll, choices: list[int], today: date) -> tuple[int, ...]:
    """The choices as stored (sorted, unique); refused with a typed error otherwise."""
    if not poll.is_open(today):
        raise PollClosed(f"poll {poll.id} closed on {poll.closes_on}")
    if not choices:
        raise InvalidValue("options", "choose at least one option")
    if len(set(choices)) != len(choices):
        raise InvalidValue("options", "an option is chosen twice")
    if not poll.multiple and len(choices) > 1:
        raise InvalidValue("options", "this poll takes one option")
    for i, choice in enumerate(choices):
        if not 0 <= choice < len(poll.options):
            raise InvalidValue(f"options[{i}]", f"option {choice} does not exist")
    return tuple(sorted(choices))
