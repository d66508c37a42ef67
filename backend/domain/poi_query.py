"""POI search requests: filters, ordering and keyset pagination, validated in one place."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import Enum

from backend.domain.errors import InvalidValue
from backend.domain.geo import BoundingBox, NearCircle
from backend.domain.poi import PoiCategory
from backend.domain.text_search import TextQuery

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class PoiOrder(str, Enum):
    """Derived from the filter: nearest first for ``near``; best match first for ``text``."""

    DISTANCE = "distance"
    RELEVANCE = "relevance"
    STORED = "stored"


@dataclass(frozen=True, slots=True)
class PoiFilter:
    scene_slug: str | None = None
    bbox: BoundingBox | None = None
    near: NearCircle | None = None
    categories: frozenset[PoiCategory] | None = None
    text: TextQuery | None = None

    @property
    def order(self) -> PoiOrder:
        if self.near is not None:
            return PoiOrder.DISTANCE
        if self.text is not None:
            return PoiOrder.RELEVANCE
        return PoiOrder.STORED


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after a row: its sort key and its row number (the tie-breaker)."""

    order: PoiOrder
    sort_key: float
    row: int

    def encode(self) -> str:
        payload = json.dumps([self.order.value, self.sort_key, self.row], separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, field: str, token: str, expected: PoiOrder) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            order, sort_key, row = json.loads(base64.urlsafe_b64decode(padded.encode()))
            cursor = cls(PoiOrder(order), float(sort_key), int(row))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidValue(field, "is not a cursor returned by this API") from None
        if cursor.order is not expected:
            raise InvalidValue(field, "belongs to a query with a different filter")
        return cursor


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int = DEFAULT_PAGE_SIZE
    after: Cursor | None = None

    @classmethod
    def of(cls, first: int | None, after: str | None, order: PoiOrder) -> PageRequest:
        size = DEFAULT_PAGE_SIZE if first is None else first
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidValue("first", f"{size} is outside 1..{MAX_PAGE_SIZE}")
        cursor = None if after is None else Cursor.decode("after", after, order)
        return cls(size, cursor)
