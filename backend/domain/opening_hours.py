"""Weekly opening hours in the region's local time, and "is it open at this instant?"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from backend.domain.errors import InvalidValue

DAY_CODES = ("mo", "tu", "we", "th", "fr", "sa", "su")
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def parse_days(field: str, spec: str) -> frozenset[int]:
    """``"mo-fr"``, ``"sa,su"``, ``"we"``, ``"fr-mo"`` (wraps) → weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        start, dash, end = part.partition("-")
        if start not in DAY_CODES or (dash and end not in DAY_CODES):
            raise InvalidValue(field, f"{spec!r} is not a day list like 'mo-fr' or 'sa,su'")
        first = DAY_CODES.index(start)
        last = DAY_CODES.index(end) if dash else first
        span = (last - first) % 7
        days.update((first + offset) % 7 for offset in range(span + 1))
    return frozenset(days)


def parse_time(field: str, value: str) -> time:
    match = _TIME.match(value)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise InvalidValue(field, f"{value!r} is not a time of day as HH:MM")
    hour, minute = int(match.group(1)), int(match.group(2))
    return time.max if hour == 24 else time(hour, minute)


@dataclass(frozen=True, slots=True)
class WeeklyInterval:
    """Open on ``weekdays`` from ``opens`` to ``closes``; ``closes <= opens`` runs past midnight."""

    weekdays: frozenset[int]
    opens: time
    closes: time

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise InvalidValue("openingHours.days", "names no day")

    def covers(self, local: datetime) -> bool:
        moment = local.time()
        if self.opens < self.closes:
            return local.weekday() in self.weekdays and self.opens <= moment < self.closes
        # Overnight: today's evening part, or the early hours that belong to yesterday.
        yesterday = (local - timedelta(days=1)).weekday()
        return (local.weekday() in self.weekdays and moment >= self.opens) or (
            yesterday in self.weekdays and moment < self.closes
        )

    def describe(self) -> str:
        days = ",".join(DAY_CODES[d] for d in sorted(self.weekdays))
        closes = "24:00" if self.closes == time.max else self.closes.strftime("%H:%M")
        return f"{days} {self.opens.strftime('%H:%M')}-{closes}"


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Either always open, or a set of weekly intervals. Unknown hours are ``None`` upstream."""

    always_open: bool
    intervals: tuple[WeeklyInterval, ...] = ()

    def __post_init__(self) -> None:
        if self.always_open and self.intervals:
            raise InvalidValue("openingHours", "cannot be both '24/7' and a list of intervals")

    def is_open_at(self, instant: datetime, timezone: str) -> bool:
        """Whether the place is open at ``instant`` (timezone-aware), in the region's time."""
        if instant.tzinfo is None:
            raise InvalidValue("at", "needs a timezone offset")
        if self.always_open:
            return True
        local = instant.astimezone(ZoneInfo(timezone))
        return any(interval.covers(local) for interval in self.intervals)
