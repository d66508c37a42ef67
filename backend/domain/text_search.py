"""Substring search over localized text that works for Korean, Japanese and Chinese.

Why n-grams of our own rather than a word tokenizer: Korean place names are searched by
fragments of one or two syllables ("용궁", "해변"), which word tokenizers miss and
trigram indexes (SQLite FTS5 trigram, pg_trgm) cannot answer from the index (a trigram
index needs >= 3 characters; pg_bigm exists for exactly this, but is not packaged for
Debian's PostgreSQL). Like Lucene's CJK analyzer, we index every 1-, 2- and 3-gram of each
normalized word; a query word is looked up by its trigrams (or itself when shorter), and
candidates are re-checked with an exact substring test on the normalized text. Both
stores index the same tokens (FTS5 on SQLite, a GIN-indexed array on PostgreSQL), so they
answer identically.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from backend.domain.errors import InvalidValue

MAX_QUERY_CHARS = 100
MAX_QUERY_WORDS = 8
_NGRAM_SIZES = (1, 2, 3)


def normalize(text: str) -> str:
    """NFKC + casefold: full-width forms, compatibility jamo and case all compare equal."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(normalized: str) -> list[str]:
    """Maximal runs of letters and digits."""
    out: list[str] = []
    current: list[str] = []
    for char in normalized:
        if char.isalnum():
            current.append(char)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def index_tokens(texts: Iterable[str]) -> list[str]:
    """Distinct 1-, 2- and 3-grams of every word of ``texts``, sorted for stable storage."""
    tokens: set[str] = set()
    for text in texts:
        for word in words(normalize(text)):
            for size in _NGRAM_SIZES:
                tokens.update(word[i : i + size] for i in range(len(word) - size + 1))
    return sorted(tokens)


def search_text(texts: Iterable[str]) -> str:
    """The normalized text candidates are re-checked against (one line per source text)."""
    return "\n".join(normalize(text) for text in texts)


@dataclass(frozen=True, slots=True)
class TextQuery:
    """A parsed search: every word must occur as a substring of the POI's text."""

    raw: str
    words: tuple[str, ...]

    @classmethod
    def parse(cls, field: str, raw: str) -> TextQuery:
        if len(raw) > MAX_QUERY_CHARS:
            raise InvalidValue(field, f"is longer than {MAX_QUERY_CHARS} characters")
        found = tuple(dict.fromkeys(words(normalize(raw))))
        if not found:
            raise InvalidValue(field, "contains no letters or digits to search for")
        if len(found) > MAX_QUERY_WORDS:
            raise InvalidValue(field, f"has more than {MAX_QUERY_WORDS} words")
        return cls(raw, found)

    def index_tokens(self) -> list[str]:
        """Tokens every match must contain: the trigrams of each word (or the word itself)."""
        tokens: set[str] = set()
        for word in self.words:
            if len(word) < 3:
                tokens.add(word)
            else:
                tokens.update(word[i : i + 3] for i in range(len(word) - 2))
        return sorted(tokens)
