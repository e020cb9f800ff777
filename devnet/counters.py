"""Counting Horizon requests per client IP, the way Horizon's budget spends them."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

KINDS = ("rest", "streams", "stream_iterations", "rate_limited")
WINDOW = 3600.0


class RequestCounts:
    """Totals per IP and kind, plus a one-hour window (REST requests and stream iterations are what
    Horizon's per-IP budget charges; `streams` counts connections; `rate_limited` refusals)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.totals: dict[str, dict[str, int]] = {}
        self._recent: deque[tuple[float, str, str]] = deque()

    def add(self, ip: str, kind: str) -> None:
        per_ip = self.totals.setdefault(ip, dict.fromkeys(KINDS, 0))
        per_ip[kind] += 1
        now = self._clock()
        self._recent.append((now, ip, kind))
        self._prune(now)

    def _prune(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - WINDOW:
            self._recent.popleft()

    def budget_spent(self, ip: str | None = None, seconds: float = WINDOW) -> int:
        """Budget-charged requests (REST + stream iterations) in the last `seconds` (at most an hour)."""
        now = self._clock()
        self._prune(now)
        return sum(
            1
            for at, who, kind in self._recent
            if at >= now - seconds and (ip is None or who == ip) and kind in ("rest", "stream_iterations")
        )

    def get(self, ip: str) -> dict[str, int]:
        return dict(self.totals.get(ip, dict.fromkeys(KINDS, 0)))

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {ip: {**kinds, "budget_last_hour": self.budget_spent(ip)} for ip, kinds in self.totals.items()}

    def reset(self) -> None:
        self.totals.clear()
        self._recent.clear()
