"""Per-connection token buckets: how often each kind of message may arrive."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: float


@dataclass(slots=True)
class TokenBucket:
    """Classic token bucket; ``take`` is False when the message must be refused."""

    rate: Rate
    tokens: float
    updated_s: float

    @classmethod
    def full(cls, rate: Rate, now_s: float) -> TokenBucket:
        return cls(rate, rate.burst, now_s)

    def take(self, now_s: float, cost: float = 1.0) -> bool:
        elapsed = max(0.0, now_s - self.updated_s)
        self.tokens = min(self.rate.burst, self.tokens + elapsed * self.rate.per_second)
        self.updated_s = now_s
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


# Message kinds and their allowance. Poses at 20 Hz with headroom; chat like a person types.
DEFAULT_RATES: dict[str, Rate] = {
    "pose": Rate(per_second=30.0, burst=30.0),
    "chat": Rate(per_second=1.0, burst=5.0),
    "reaction": Rate(per_second=5.0, burst=10.0),
    "control": Rate(per_second=5.0, burst=20.0),  # everything else
}
# Refusals in a row after which the connection is closed as abusive (close code 4430).
ABUSE_STRIKES = 50
