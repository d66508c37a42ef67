from datetime import datetime

import pytest

from backend.domain.errors import InvalidValue
from backend.domain.opening_hours import OpeningHours, WeeklyInterval, parse_days, parse_time


def hours(days: str, opens: str, closes: str) -> OpeningHours:
    return OpeningHours(
        False,
        (WeeklyInterval(parse_days("d", days), parse_time("o", opens), parse_time("c", closes)),),
    )


def kst(day: int, hour: int, minute: int = 0) -> datetime:
    """Monday 2026-11-23 plus ``day`` days, at a Korean wall-clock time."""
    return datetime.fromisoformat(f"2026-11-{23 + day:02d}T{hour:02d}:{minute:02d}:00+09:00")


def test_day_ranges_wrap_around_the_week():
    assert parse_days("d", "fr-mo") == {4, 5, 6, 0}
    assert parse_days("d", "sa,su") == {5, 6}


@pytest.mark.parametrize("spec", ["monday", "mo-", "xx", ""])
def test_malformed_day_lists_are_rejected(spec):
    with pytest.raises(InvalidValue):
        parse_days("days", spec)


@pytest.mark.parametrize("value", ["9:00", "25:00", "24:30", "12:60"])
def test_malformed_times_are_rejected(value):
    with pytest.raises(InvalidValue):
        parse_time("opens", value)


def test_open_inside_the_interval_in_the_regions_time_zone():
    weekday_hours = hours("mo-fr", "09:00", "18:00")
    assert weekday_hours.is_open_at(kst(0, 9, 0), "Asia/Seoul")
    assert not weekday_hours.is_open_at(kst(0, 18, 0), "Asia/Seoul")
    assert not weekday_hours.is_open_at(kst(5, 12, 0), "Asia/Seoul")  # Saturday


def test_an_overnight_interval_covers_the_early_hours_of_the_next_day():
    night = hours("fr", "20:00", "02:00")
    assert night.is_open_at(kst(4, 23, 0), "Asia/Seoul")  # Friday night
    assert night.is_open_at(kst(5, 1, 30), "Asia/Seoul")  # early Saturday
    assert not night.is_open_at(kst(6, 1, 30), "Asia/Seoul")  # early Sunday


def test_twenty_four_seven_is_always_open_and_needs_an_aware_instant():
    always = OpeningHours(always_open=True)
    assert always.is_open_at(kst(2, 3), "Asia/Seoul")
    with pytest.raises(InvalidValue):
        always.is_open_at(datetime(2026, 1, 1), "Asia/Seoul")
