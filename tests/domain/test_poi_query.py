import pytest

from backend.domain.errors import InvalidValue
from backend.domain.poi_query import Cursor, PageRequest, PoiOrder


@pytest.mark.parametrize("first", [0, -1, 101, 99_999_999])
def test_first_outside_one_to_a_hundred_is_rejected_naming_first(first):
    with pytest.raises(InvalidValue) as caught:
        PageRequest.of(first, None, PoiOrder.STORED)
    assert caught.value.field == "first"


def test_cursors_round_trip():
    cursor = Cursor(PoiOrder.DISTANCE, 1234.5678901234, 42)
    assert Cursor.decode("after", cursor.encode(), PoiOrder.DISTANCE) == cursor


@pytest.mark.parametrize("token", ["nonsense", "", "W10", "eyJ4Ijox"])
def test_garbage_cursors_are_rejected_naming_after(token):
    with pytest.raises(InvalidValue) as caught:
        PageRequest.of(10, token, PoiOrder.STORED)
    assert caught.value.field == "after"


def test_a_cursor_from_a_differently_ordered_query_is_rejected():
    token = Cursor(PoiOrder.STORED, 5.0, 5).encode()
    with pytest.raises(InvalidValue, match="different filter"):
        PageRequest.of(10, token, PoiOrder.DISTANCE)
