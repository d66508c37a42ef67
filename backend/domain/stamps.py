"""Stamp and treasure tours: stops to reach, with a proof the server checks.

A stop's proof is presence — the visitor's reported camera position within ``radius_m``
of the stop for at least ``dwell_s`` — and/or a riddle answered on the server. The
server never takes a client's "I was there": it keeps a per-visitor tracker of reported
positions, refuses impossible movement (faster than any camera flight between two
reports), and counts dwell only across reports close enough in time. A completed set
earns a badge with a code anyone can verify.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime

from backend.domain.errors import DomainError, InvalidValue
from backend.domain.geo import GeoPoint
from backend.domain.i18n import LocalizedText
from backend.domain.ids import validate_slug

# The viewer's tour camera flies between stops kilometres apart in a few seconds; faster
# than this between two reports is a teleport, not a visit.
MAX_SPEED_MPS = 1000.0
# Dwell accumulates only across reports at most this far apart (clients report every
# few seconds while a stop is in view); a longer silence restarts the count.
MAX_REPORT_GAP_S = 15.0
MAX_STOPS = 30


class ProofMissing(DomainError):
    """A stamp claim without its condition met; ``missing`` names what is missing."""

    code = "condition_not_met"

    def __init__(self, message: str, missing: str) -> None:
        super().__init__(message)
        self.missing = missing


class ImplausibleMovement(DomainError):
    code = "implausible_movement"


@dataclass(frozen=True, slots=True)
class StampStop:
    poi_key: str
    location: GeoPoint  # the POI's, copied when the tour is loaded
    radius_m: float | None  # None: no presence needed (a riddle-only stop)
    dwell_s: float
    riddle: LocalizedText | None
    answers: tuple[str, ...]  # accepted answers, folded (see fold_answer)
    hint: LocalizedText | None = None

    def __post_init__(self) -> None:
        if self.radius_m is None and self.riddle is None:
            raise InvalidValue("stop", "needs a radius, a riddle, or both")
        if self.radius_m is not None and not 5 <= self.radius_m <= 5000:
            raise InvalidValue("radius_m", "must be in [5, 5000] m")
        if not 0 <= self.dwell_s <= 3600:
            raise InvalidValue("dwell_s", "must be in [0, 3600] s")
        if (self.riddle is None) != (not self.answers):
            raise InvalidValue("answers", "a riddle needs answers, and answers a riddle")


@dataclass(frozen=True, slots=True)
class StampTour:
    scene_slug: str
    key: str
    name: LocalizedText
    description: LocalizedText | None
    badge_name: LocalizedText
    stops: tuple[StampStop, ...]

    def __post_init__(self) -> None:
        validate_slug("key", self.key)
        if not 1 <= len(self.stops) <= MAX_STOPS:
            raise InvalidValue("stops", f"give 1 to {MAX_STOPS} stops")
        keys = [s.poi_key for s in self.stops]
        if len(set(keys)) != len(keys):
            raise InvalidValue("stops", "a POI appears twice")

    @property
    def id(self) -> str:
        return f"{self.scene_slug}:{self.key}"


@dataclass(frozen=True, slots=True)
class Tracker:
    """A visitor's last accepted position on a tour and the dwell at the stop there."""

    position: GeoPoint
    at: datetime
    dwell_stop: int | None  # the stop whose radius the visitor is inside
    dwell_s: float


def ground_distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance (haversine, mean Earth radius), heights ignored: a camera
    hovering over a hilltop temple is at the temple."""
    lat1, lat2 = math.radians(a.lat_deg), math.radians(b.lat_deg)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon_deg - a.lon_deg)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Distance travelled: over the ground and in height."""
    return math.hypot(ground_distance_m(a, b), b.height_m - a.height_m)


def _stop_at(tour: StampTour, position: GeoPoint) -> int | None:
    """The nearest stop whose radius holds the position (radii of close stops overlap)."""
    best: tuple[float, int] | None = None
    for index, stop in enumerate(tour.stops):
        if stop.radius_m is None:
            continue
        distance = ground_distance_m(position, stop.location)
        if distance <= stop.radius_m and (best is None or distance < best[0]):
            best = (distance, index)
    return best[1] if best is not None else None


def track(tour: StampTour, previous: Tracker | None, position: GeoPoint, at: datetime) -> Tracker:
    """The tracker after a position report; ImplausibleMovement (nothing changes) when
    the visitor would have moved faster than a camera flies, or reports out of order."""
    stop = _stop_at(tour, position)
    if previous is None:
        return Tracker(position, at, stop, 0.0)
    elapsed = (at - previous.at).total_seconds()
    if elapsed < 0:
        raise ImplausibleMovement("a position report older than the previous one")
    moved = distance_m(previous.position, position)
    if moved > MAX_SPEED_MPS * max(elapsed, 1.0):
        raise ImplausibleMovement(
            f"moved {moved:.0f} m in {elapsed:.1f} s: faster than {MAX_SPEED_MPS:.0f} m/s"
        )
    dwell = 0.0
    if stop is not None and stop == previous.dwell_stop and elapsed <= MAX_REPORT_GAP_S:
        dwell = previous.dwell_s + elapsed
    return replace(previous, position=position, at=at, dwell_stop=stop, dwell_s=dwell)


def fold_answer(text: str) -> str:
    """Answers compare case-, width- and space-insensitively ("Ｇｅｒｍａｎ  Village" =
    "germanvillage"), and Hangul in its composed form."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def check_claim(
    tour: StampTour, stop_index: int, tracker: Tracker | None, answer: str | None
) -> None:
    """Raise ProofMissing unless the stop's conditions hold now. (Presence is measured on
    the ground: within ``radius_m`` of the stop, at any height.)"""
    if not 0 <= stop_index < len(tour.stops):
        raise InvalidValue("stop", f"tour {tour.id} has stops 0..{len(tour.stops) - 1}")
    stop = tour.stops[stop_index]
    if stop.radius_m is not None:
        if tracker is None or tracker.dwell_stop != stop_index:
            raise ProofMissing(
                f"report a position within {stop.radius_m:.0f} m of the stop first", "presence"
            )
        if tracker.dwell_s < stop.dwell_s:
            raise ProofMissing(
                f"stay at the stop {stop.dwell_s - tracker.dwell_s:.0f} s longer", "dwell"
            )
    solved = answer is not None and fold_answer(answer) in stop.answers
    if stop.riddle is not None and not solved:
        raise ProofMissing("that is not the answer to the riddle", "answer")
