"""Horizon's per-IP request budget: GCRA as implemented by the `throttled` library Horizon uses.

`per_hour` requests per hour with a burst of `burst`: one token every 3600/per_hour seconds, and up
to burst+1 requests at once from a full bucket (throttled reports that burst+1 as X-RateLimit-Limit).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateResult:
    limited: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the bucket is full again
    retry_after: float | None  # seconds until a request would be allowed (only when limited)

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* (and Retry-After when limited), as throttled's HTTPRateLimiter sets them."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_after)),
        }
        if self.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(self.retry_after))
        return headers


class RateLimiter:
    def __init__(
        self, per_hour: int = 3600, burst: int = 100, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_hour <= 0 or burst < 0:
            raise ValueError("per_hour must be positive and burst non-negative")
        self.per_hour = per_hour
        self.burst = burst
        self._clock = clock
        self._interval = 3600.0 / per_hour
        self._tolerance = self._interval * (burst + 1)
        self._tat: dict[str, float] = {}  # theoretical arrival time per key

    def take(self, key: str, quantity: int = 1) -> RateResult:
        now = self._clock()
        tat = max(self._tat.get(key, now), now)
        increment = quantity * self._interval
        new_tat = tat + increment
        # Computed from differences: `now < new_tat - tolerance` rounds wrongly when they are equal.
        wait = (tat - now) + increment - self._tolerance
        if wait > 1e-9:
            ttl = tat - now
            retry = wait if increment <= self._tolerance else None
            return RateResult(True, self.burst + 1, self._remaining(ttl), ttl, retry)
        self._tat[key] = new_tat
        ttl = new_tat - now
        return RateResult(False, self.burst + 1, self._remaining(ttl), ttl, None)

    def _remaining(self, ttl: float) -> int:
        left = self._tolerance - ttl
        return max(0, int(left / self._interval + 1e-9)) if left > -self._interval else 0

    def describe(self) -> dict[str, int]:
        return {"per_hour": self.per_hour, "burst": self.burst}
