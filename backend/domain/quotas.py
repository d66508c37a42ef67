"""Quotas: how much of something a client may do, as leaky buckets.

A quota allows a burst of ``burst`` units, refilled at ``per_second``. It is kept as the
generic cell rate algorithm (GCRA): one number per client, the "theoretical arrival time"
(TAT) at which its bucket would be empty again. That single number is what makes the same
rule cheap to keep in process memory and atomic to keep in Redis (one key, one script;
``backend/quota_stores.py`` runs this arithmetic in Lua with the server's clock).

Pure: no clock, no I/O. Callers pass the time in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EPSILON_S = 1e-6


@dataclass(frozen=True, slots=True)
class Quota:
    """``burst`` units at once, refilled at ``per_second`` units a second."""

    name: str  # the scope of the keys: "graphql", "comment", "vote", "join", "upload"
    burst: float
    per_second: float
    # sized for one person: TWINLAND_QUOTA_SCALE multiplies it (many people behind one
    # address at a venue); False for budgets that have settings of their own
    per_person: bool = True

    def scaled(self, factor: float) -> Quota:
        if not self.per_person or factor == 1:
            return self
        return Quota(self.name, self.burst * factor, self.per_second * factor)

    def __post_init__(self) -> None:
        if not (self.burst > 0 and self.per_second > 0):
            raise ValueError(f"quota {self.name!r} needs a positive burst and rate")

    @property
    def seconds_per_unit(self) -> float:
        return 1.0 / self.per_second

    def describe(self) -> str:
        """For people: "5, then 1 per minute"."""
        for unit, seconds in (("second", 1), ("minute", 60), ("hour", 3_600), ("day", 86_400)):
            per_unit = self.per_second * seconds
            if per_unit >= 1 or unit == "day":
                return f"{self.burst:g}, then {round(per_unit, 3):g} per {unit}"
        raise AssertionError("unreachable")


# What one client may do (a visitor token, an organiser, else a network address). People
# write a comment a minute at most, with a few quick ones allowed; votes are one per poll
# anyway, so their quota only slows scripts. Visitor tokens are free to mint, so minting
# is limited per address (ballot stuffing needs many tokens), and so are live joins; both
# allow a school class or a tour group behind one address at once.
COMMENTS = Quota("comment", burst=5, per_second=1 / 60)
VOTES = Quota("vote", burst=10, per_second=1 / 60)
VISITOR_TOKENS = Quota("visitor-token", burst=60, per_second=120 / 3_600)
LIVE_JOINS = Quota("join", burst=60, per_second=60 / 60)
UPLOADS = Quota("upload", burst=20, per_second=100 / 86_400)
# Password guessing: per address and per e-mail, 10 tries, then 10 a minute.
SIGN_INS = Quota("sign-in", burst=10, per_second=10 / 60)


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    allowed: bool
    retry_after_s: float  # 0 when allowed
    remaining: float  # units still available right after this decision


def decide(
    quota: Quota, tat_s: float | None, now_s: float, cost: float
) -> tuple[QuotaDecision, float]:
    """Whether ``cost`` units fit now, and the TAT to store (unchanged when refused, so a
    refused request costs nothing). ``tat_s`` is None for a client never seen.

    A cost above the burst can never fit: the caller should refuse it outright rather than
    tell the client to wait (``retry_after_s`` is then infinite)."""
    if cost > quota.burst:
        return QuotaDecision(False, math.inf, _remaining(quota, tat_s, now_s)), _tat(tat_s, now_s)
    tat = _tat(tat_s, now_s)
    new_tat = tat + cost * quota.seconds_per_unit
    allowed_at = new_tat - quota.burst * quota.seconds_per_unit
    if allowed_at - now_s > EPSILON_S:  # rounding of (now + x) - x must not refuse
        return QuotaDecision(False, allowed_at - now_s, _remaining(quota, tat, now_s)), tat
    return QuotaDecision(True, 0.0, _remaining(quota, new_tat, now_s)), new_tat


def _tat(tat_s: float | None, now_s: float) -> float:
    return now_s if tat_s is None else max(tat_s, now_s)


def _remaining(quota: Quota, tat_s: float | None, now_s: float) -> float:
    used_s = _tat(tat_s, now_s) - now_s
    return max(0.0, quota.burst - used_s * quota.per_second)
