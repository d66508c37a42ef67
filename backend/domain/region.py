"""Region: a local government area (county or city) that owns scenes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.domain.errors import InvalidValue
from backend.domain.geo import BoundingBox
from backend.domain.i18n import Locale, LocalizedText, parse_locale
from backend.domain.ids import validate_slug


def validate_timezone(field: str, name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(field, f"unknown IANA time zone {name!r}") from None
    return name


@dataclass(frozen=True, slots=True)
class Region:
    slug: str
    name: LocalizedText
    province: LocalizedText | None
    bounds: BoundingBox
    default_locales: tuple[Locale, ...]
    timezone: str = "Asia/Seoul"

    def __post_init__(self) -> None:
        validate_slug("region.slug", self.slug)
        validate_timezone("region.timezone", self.timezone)
        if not self.default_locales:
            raise InvalidValue("region.defaultLocales", "needs at least one locale")
        if len(set(self.default_locales)) != len(self.default_locales):
            raise InvalidValue("region.defaultLocales", "lists a locale twice")


def parse_locales(field: str, values: Sequence[str]) -> tuple[Locale, ...]:
    return tuple(parse_locale(f"{field}[{i}]", value) for i, value in enumerate(values))
