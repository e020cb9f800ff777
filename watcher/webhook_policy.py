"""What an attempt's answer means, and when to try again (pure: no I/O, no clock of its own).

- 2xx: delivered.
- 410 Gone: the receiver says the endpoint is gone for good: the endpoint is disabled.
- 408, 429, 5xx, any 3xx (redirects are not followed), no answer (network error, timeout): retried.
- Any other 4xx: final (the receiver refuses this message; sending it again will not change that).

Retries follow the configured schedule (delay after the 1st, 2nd, … failure; the last delay repeats),
each delay drawn from [delay × (1 − jitter), delay], and never past the delivery's `give_up_at`: the
last attempt happens at that moment at the latest. `Retry-After` (seconds or an HTTP date), when a
retried answer carries one, replaces the scheduled delay exactly; if it points past `give_up_at`, the
delivery fails then and there (no attempt would be allowed in the window).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

Verdict = Literal["delivered", "retry", "failed", "gone"]
RETRIED_4XX = frozenset({408, 429})


def verdict_for(status: int | None) -> Verdict:
    if status is None:
        return "retry"  # no HTTP answer: network error or timeout
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    if 400 <= status < 500 and status not in RETRIED_4XX:
        return "failed"
    return "retry"


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header as seconds from `now` (delta-seconds or an HTTP date); None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(min(int(text), 10**9))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class Retry:
    at: datetime


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


class RetrySchedule:
    def __init__(self, delays: Sequence[float], jitter: float, rng: random.Random | None = None) -> None:
        if not delays:
            raise ValueError("a retry schedule needs at least one delay")
        self.delays = tuple(delays)
        self.jitter = jitter
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt in a row (1-based), with jitter."""
        base = self.delays[min(max(failures, 1), len(self.delays)) - 1]
        return base * self._rng.uniform(1 - self.jitter, 1)

    def next_attempt(
        self, *, failures: int, now: datetime, give_up_at: datetime, retry_after: float | None = None
    ) -> Retry | GiveUp:
        if now >= give_up_at:
            return GiveUp("retry window spent")
        if retry_after is not None:
            at = now + timedelta(seconds=retry_after)
            if at > give_up_at:
                return GiveUp("Retry-After points past the retry window")
            return Retry(at)
        return Retry(min(now + timedelta(seconds=self.delay(failures)), give_up_at))
