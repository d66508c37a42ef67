from datetime import UTC, datetime, timedelta

import pytest

from backend.domain.errors import IllegalTransition, InvalidValue
from backend.domain.live_session import LiveSessionStatus as S
from tests.factories import live_session


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], S.LIVE),
        ([], S.CANCELLED),
        ([S.LIVE], S.ENDED),
    ],
)
def test_legal_transitions_are_allowed(path, target):
    session = live_session()
    for step in path:
        session = session.transition(step)
    assert session.transition(target).status is target


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], S.ENDED),
        ([S.LIVE], S.SCHEDULED),
        ([S.LIVE], S.CANCELLED),
        ([S.LIVE, S.ENDED], S.LIVE),
        ([S.CANCELLED], S.LIVE),
        ([], S.SCHEDULED),
    ],
)
def test_illegal_transitions_raise_and_name_both_states(path, target):
    session = live_session()
    for step in path:
        session = session.transition(step)
    with pytest.raises(IllegalTransition) as caught:
        session.transition(target)
    assert caught.value.current == session.status.value
    assert caught.value.requested == target.value


@pytest.mark.parametrize("capacity", [0, -1, 100_001])
def test_capacity_must_be_positive_and_bounded(capacity):
    with pytest.raises(InvalidValue) as caught:
        live_session(capacity=capacity)
    assert caught.value.field == "capacity"


def test_a_session_must_end_after_it_starts():
    start = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidValue) as caught:
        live_session(starts_at=start, ends_at=start)
    assert caught.value.field == "endsAt"


def test_naive_times_are_rejected():
    with pytest.raises(InvalidValue):
        live_session(starts_at=datetime(2030, 1, 1), ends_at=datetime(2030, 1, 1, 1))


def test_rescheduling_needs_a_future_start_and_a_scheduled_session():
    session = live_session()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    moved = session.reschedule(now + timedelta(days=1), now + timedelta(days=1, hours=2), now)
    assert moved.starts_at == now + timedelta(days=1)
    with pytest.raises(InvalidValue):
        session.reschedule(now - timedelta(days=1), now, now)
    with pytest.raises(IllegalTransition):
        session.transition(S.LIVE).reschedule(now + timedelta(days=1), now + timedelta(days=2), now)
