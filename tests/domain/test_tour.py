import pytest

from backend.domain.errors import InvalidValue
from tests.factories import poi, tour


def test_stops_must_reference_pois_of_the_same_scene():
    pois = {"a": poi("a", 35.19, 129.21), "b": poi("b", 35.20, 129.22, scene_slug="elsewhere")}
    with pytest.raises(InvalidValue) as caught:
        tour("walk", ["a", "b"]).check_stops(pois)
    assert caught.value.field == "stops[1].poi"


def test_unknown_stop_pois_are_rejected():
    with pytest.raises(InvalidValue, match="'ghost'"):
        tour("walk", ["ghost"]).check_stops({})


def test_a_tour_needs_a_stop():
    with pytest.raises(InvalidValue):
        tour("walk", [])


def test_duration_is_dwell_plus_a_minute_per_transition_unless_declared():
    assert tour("walk", ["a", "b", "c"]).duration_min() == 3 * 10 + 2
    assert tour("walk", ["a"], estimated_duration_min=45).duration_min() == 45


def test_route_length_follows_the_stops_in_order():
    pois = {"a": poi("a", 35.0, 129.0), "b": poi("b", 35.01, 129.0), "c": poi("c", 35.0, 129.0)}
    assert tour("walk", ["a", "b", "c"]).route_length_m(pois) == pytest.approx(2 * 1112, rel=0.01)
