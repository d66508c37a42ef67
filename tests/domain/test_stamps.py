"""Stamp-tour rules: presence, dwell across timely reports, plausibility, riddles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.domain.errors import InvalidValue
from backend.domain.geo import GeoPoint
from backend.domain.i18n import LocalizedText
from backend.domain.stamps import (
    ImplausibleMovement,
    ProofMissing,
    StampStop,
    StampTour,
    check_claim,
    distance_m,
    fold_answer,
    track,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TEXT = LocalizedText.of("t", {"en": "text"})
PORT = GeoPoint(34.7125, 128.0470)
VILLAGE = GeoPoint(34.7998, 128.0442)  # ~9.7 km north of the port
TOUR = StampTour(
    "namhae-coast",
    "hunt",
    TEXT,
    None,
    TEXT,
    (
        StampStop("mijo-port", PORT, 300, 20, TEXT, (fold_answer("Anchovy"),)),
        StampStop("german-village", VILLAGE, 250, 0, None, ()),
    ),
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_dwell_accumulates_across_timely_reports_inside_the_radius():
    tracker = track(TOUR, None, PORT, at(0))
    for second in (5, 10, 15, 20):
        tracker = track(TOUR, tracker, PORT, at(second))
    assert (tracker.dwell_stop, tracker.dwell_s) == (0, 20)
    check_claim(TOUR, 0, tracker, "ＡＮＣＨＯＶＹ ")


def test_a_long_silence_restarts_the_dwell():
    tracker = track(TOUR, track(TOUR, None, PORT, at(0)), PORT, at(10))
    tracker = track(TOUR, tracker, PORT, at(40))  # 30 s without a report
    assert tracker.dwell_s == 0
    with pytest.raises(ProofMissing) as caught:
        check_claim(TOUR, 0, tracker, "anchovy")
    assert caught.value.missing == "dwell"


def test_claims_need_presence_and_the_right_answer():
    with pytest.raises(ProofMissing) as absent:
        check_claim(TOUR, 1, track(TOUR, None, PORT, at(0)), None)
    assert absent.value.missing == "presence"
    tracker = track(TOUR, None, PORT, at(0))
    for second in range(5, 30, 5):
        tracker = track(TOUR, tracker, PORT, at(second))
    with pytest.raises(ProofMissing) as wrong:
        check_claim(TOUR, 0, tracker, "tuna")
    assert wrong.value.missing == "answer"
    with pytest.raises(InvalidValue, match=r"stops 0\.\.1"):
        check_claim(TOUR, 5, tracker, None)


def test_teleporting_across_the_map_is_refused():
    assert distance_m(PORT, VILLAGE) > 9000
    tracker = track(TOUR, None, PORT, at(0))
    with pytest.raises(ImplausibleMovement, match="faster than"):
        track(TOUR, tracker, VILLAGE, at(2))  # ~9.7 km in 2 s
    flown = track(TOUR, tracker, VILLAGE, at(30))  # a camera flight of 30 s is fine
    assert flown.dwell_stop == 1
    with pytest.raises(ImplausibleMovement, match="older"):
        track(TOUR, flown, VILLAGE, at(10))


def test_a_stop_needs_a_radius_or_a_riddle_and_answers_go_with_riddles():
    with pytest.raises(InvalidValue):
        StampStop("x", PORT, None, 0, None, ())
    with pytest.raises(InvalidValue):
        StampStop("x", PORT, 100, 0, TEXT, ())


def test_answers_fold_case_width_and_spacing():
    assert fold_answer("  Rice  Terraces ") == fold_answer("riceterraces")
    assert fold_answer("다랭이 논") == fold_answer("다랭이논")
