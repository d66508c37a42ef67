"""Live sessions: scheduled events in a scene, with a lifecycle of legal transitions only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from backend.domain.errors import IllegalTransition, InvalidValue
from backend.domain.i18n import LocalizedText
from backend.domain.ids import qualified_id, validate_slug

MAX_CAPACITY = 100_000
MAX_DURATION = timedelta(hours=24)


class LiveSessionStatus(str, Enum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Visibility(str, Enum):
    PUBLIC = "public"  # listed for everyone
    UNLISTED = "unlisted"  # reachable by id, never listed


_TRANSITIONS: dict[LiveSessionStatus, frozenset[LiveSessionStatus]] = {
    LiveSessionStatus.SCHEDULED: frozenset({LiveSessionStatus.LIVE, LiveSessionStatus.CANCELLED}),
    LiveSessionStatus.LIVE: frozenset({LiveSessionStatus.ENDED}),
    LiveSessionStatus.ENDED: frozenset(),
    LiveSessionStatus.CANCELLED: frozenset(),
}


def _check_aware(field: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, "needs a timezone offset")


@dataclass(frozen=True, slots=True)
class LiveSession:
    scene_slug: str
    key: str
    title: LocalizedText
    starts_at: datetime
    ends_at: datetime
    capacity: int
    visibility: Visibility = Visibility.PUBLIC
    status: LiveSessionStatus = LiveSessionStatus.SCHEDULED
    description: LocalizedText | None = None
    host: LocalizedText | None = None
    tour_key: str | None = None

    def __post_init__(self) -> None:
        validate_slug("liveSession.sceneSlug", self.scene_slug)
        validate_slug("liveSession.key", self.key)
        if self.tour_key is not None:
            validate_slug("liveSession.tour", self.tour_key)
        _check_aware("startsAt", self.starts_at)
        _check_aware("endsAt", self.ends_at)
        if self.ends_at <= self.starts_at:
            raise InvalidValue("endsAt", "must be after startsAt")
        if self.ends_at - self.starts_at > MAX_DURATION:
            raise InvalidValue("endsAt", "a session lasts at most 24 hours")
        if not 0 < self.capacity <= MAX_CAPACITY:
            raise InvalidValue("capacity", f"{self.capacity} must be in 1..{MAX_CAPACITY}")

    @property
    def id(self) -> str:
        return qualified_id(self.scene_slug, self.key)

    def can_become(self, target: LiveSessionStatus) -> bool:
        return target in _TRANSITIONS[self.status]

    def transition(self, target: LiveSessionStatus) -> LiveSession:
        """The session in ``target`` status, or IllegalTransition (e.g. ended → live)."""
        if not self.can_become(target):
            raise IllegalTransition("live session", self.status.value, target.value)
        return replace(self, status=target)

    def reschedule(self, starts_at: datetime, ends_at: datetime, now: datetime) -> LiveSession:
        """New times for a session that has not started; the start must lie in the future."""
        if self.status is not LiveSessionStatus.SCHEDULED:
            raise IllegalTransition("live session", self.status.value, "rescheduled")
        check_future_start(starts_at, now)
        return replace(self, starts_at=starts_at, ends_at=ends_at)


def check_future_start(starts_at: datetime, now: datetime) -> None:
    """Organisers schedule sessions ahead; a start in the past is a typo, not a plan."""
    _check_aware("startsAt", starts_at)
    if starts_at <= now:
        raise InvalidValue("startsAt", "must be in the future")


MODERATION_ACTIONS = frozenset({"mute", "unmute", "kick", "ban", "unban"})


@dataclass(frozen=True, slots=True)
class ModerationRecord:
    """One moderation action inside a live session, as kept in the audit log."""

    session_id: str
    member_id: int
    action: str
    actor_id: int
    actor_name: str
    actor_role: str
    reason: str | None
    at: datetime

    def __post_init__(self) -> None:
        if self.action not in MODERATION_ACTIONS:
            raise InvalidValue(
                "action", f"{self.action!r} is not one of {sorted(MODERATION_ACTIONS)}"
            )
        _check_aware("at", self.at)
