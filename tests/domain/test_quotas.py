import math

import pytest

from backend.domain.quotas import Quota, decide

COMMENTS = Quota("comment", burst=5, per_second=1 / 60)


def run(quota: Quota, times_s: list[float], cost: float = 1.0) -> list[bool]:
    tat: float | None = None
    allowed = []
    for now in times_s:
        decision, tat = decide(quota, tat, now, cost)
        allowed.append(decision.allowed)
    return allowed


def test_a_burst_is_allowed_then_refused_until_a_unit_refills() -> None:
    assert run(COMMENTS, [0, 0, 0, 0, 0, 0]) == [True] * 5 + [False]
    assert run(COMMENTS, [0, 0, 0, 0, 0, 59.9, 60.0]) == [True] * 5 + [False, True]


def test_the_refusal_says_exactly_when_to_retry_and_what_remains() -> None:
    tat: float | None = None
    for _ in range(5):
        _, tat = decide(COMMENTS, tat, 100.0, 1)
    refused, kept = decide(COMMENTS, tat, 130.0, 1)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(30.0)
    assert refused.remaining == pytest.approx(0.5)
    assert kept == tat  # a refusal takes nothing


def test_remaining_counts_down_and_refills_to_the_burst_only() -> None:
    first, tat = decide(COMMENTS, None, 0.0, 2)
    assert first.remaining == pytest.approx(3)
    later, _ = decide(COMMENTS, tat, 10_000.0, 1)
    assert later.remaining == pytest.approx(4)  # refilled to 5, then one taken


def test_a_cost_above_the_burst_never_fits() -> None:
    points = Quota("graphql", burst=100, per_second=10)
    decision, tat = decide(points, None, 0.0, 101)
    assert not decision.allowed
    assert math.isinf(decision.retry_after_s)
    assert tat == 0.0


def test_costs_are_weighed_in_units() -> None:
    points = Quota("graphql", burst=100, per_second=10)
    assert run(points, [0, 0, 0], cost=40) == [True, True, False]
    assert run(points, [0, 0, 2], cost=40) == [True, True, True]  # 20 refilled by then


@pytest.mark.parametrize(("burst", "per_second"), [(0, 1), (5, 0), (-1, 1)])
def test_a_quota_needs_a_positive_burst_and_rate(burst: float, per_second: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Quota("x", burst, per_second)


def test_quotas_describe_themselves_for_people() -> None:
    assert COMMENTS.describe() == "5, then 1 per minute"
    assert Quota("upload", 20, 20 / 86_400).describe() == "20, then 20 per day"
    assert Quota("graphql", 10_000, 1_000).describe() == "10000, then 1000 per second"


def test_a_unit_that_exactly_fits_is_allowed_at_any_clock_reading() -> None:
    # (now + x) - x may round above now: a burst of exactly one must still be allowed
    one_a_day = Quota("upload", burst=1, per_second=1 / 17_280)
    for now in (0.0, 3_700.123456, 1.7e9 + 0.1, 123_456.789):
        assert decide(one_a_day, None, now, 1)[0].allowed
