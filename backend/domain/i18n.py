"""Localized text and the language fallback rule.

Visitor-facing text is kept per language (ko, en, ja, zh). When a client asks for a
language a text lacks, it gets, in order: the requested language, the region's default
locales, then ko, en, ja, zh. The served language is always reported alongside.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from backend.domain.errors import InvalidValue


class Locale(str, Enum):
    KO = "ko"
    EN = "en"
    JA = "ja"
    ZH = "zh"


GLOBAL_FALLBACK: tuple[Locale, ...] = (Locale.KO, Locale.EN, Locale.JA, Locale.ZH)
MAX_TEXT_CHARS = 20_000


def parse_locale(field: str, value: str) -> Locale:
    try:
        return Locale(value.strip().lower())
    except ValueError:
        supported = ", ".join(locale.value for locale in Locale)
        raise InvalidValue(field, f"unknown language {value!r}; supported: {supported}") from None


def fallback_chain(requested: Locale | None, defaults: Sequence[Locale] = ()) -> list[Locale]:
    """The order in which languages are tried for ``requested``; each language once."""
    chain: list[Locale] = []
    for locale in (requested, *defaults, *GLOBAL_FALLBACK):
        if locale is not None and locale not in chain:
            chain.append(locale)
    return chain


@dataclass(frozen=True, slots=True)
class Resolved:
    text: str
    locale: Locale


@dataclass(frozen=True, slots=True)
class LocalizedText:
    """Text in one or more languages. Never empty; each entry non-blank."""

    entries: tuple[tuple[Locale, str], ...]

    @classmethod
    def of(cls, field: str, values: Mapping[str, str] | Mapping[Locale, str]) -> LocalizedText:
        if not values:
            raise InvalidValue(field, "needs text in at least one language")
        entries: dict[Locale, str] = {}
        for raw_locale, text in values.items():
            locale = raw_locale if isinstance(raw_locale, Locale) else None
            if locale is None:
                locale = parse_locale(f"{field}.{raw_locale}", str(raw_locale))
            if not isinstance(text, str) or not text.strip():
                raise InvalidValue(f"{field}.{locale.value}", "must be non-empty text")
            if len(text) > MAX_TEXT_CHARS:
                raise InvalidValue(
                    f"{field}.{locale.value}", f"is longer than {MAX_TEXT_CHARS} characters"
                )
            entries[locale] = text.strip()
        ordered = tuple((loc, entries[loc]) for loc in Locale if loc in entries)
        return cls(ordered)

    @classmethod
    def optional(
        cls, field: str, values: Mapping[str, str] | Mapping[Locale, str] | None
    ) -> LocalizedText | None:
        return None if not values else cls.of(field, values)

    def get(self, locale: Locale) -> str | None:
        for entry_locale, text in self.entries:
            if entry_locale is locale:
                return text
        return None

    def resolve(self, requested: Locale | None, defaults: Sequence[Locale] = ()) -> Resolved:
        for locale in fallback_chain(requested, defaults):
            text = self.get(locale)
            if text is not None:
                return Resolved(text, locale)
        # Unreachable for a constructed value (never empty), kept total for type checkers.
        locale, text = self.entries[0]
        return Resolved(text, locale)

    def as_dict(self) -> dict[str, str]:
        return {locale.value: text for locale, text in self.entries}

    def __iter__(self) -> Iterator[tuple[Locale, str]]:
        return iter(self.entries)

    def texts(self) -> Iterable[str]:
        return (text for _, text in self.entries)


def parse_accept_language(header: str | None) -> Locale | None:
    """The most preferred supported language of an Accept-Language header, if any.

    ``"ja-JP,ja;q=0.9,en;q=0.8"`` → ``Locale.JA``; ``zh-TW`` and ``zh-Hans`` map to ``zh``.
    Malformed parts are ignored: a header is a hint, never a reason to fail a request.
    """
    if not header:
        return None
    ranked: list[tuple[float, int, Locale]] = []
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        try:
            locale = Locale(primary)
        except ValueError:
            continue
        if quality > 0:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else None
