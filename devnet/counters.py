"""Counting Horizon requests per client IP, the way Horizon's budget spends them, and a log of the
latest requests with their times (tests check what a client did when: e.g. that it waited as long as
a 429's Retry-After told it to)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("rest", "streams", "stream_iterations", "rate_limited")
WINDOW = 3600.0
LOG_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    at: float  # the counters' clock (time.monotonic unless a test gives another)
    ip: str
    path: str
    stream: bool  # a stream connection (else a REST request)
    refused: int | None  # 429 or 503 when answered with an injected fault or the rate limit


class RequestCounts:
    """Totals per IP and kind, plus a one-hour window (REST requests and stream iterations are what
    Horizon's per-IP budget charges; `streams` counts connections; `rate_limited` refusals)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.totals: dict[str, dict[str, int]] = {}
        self._recent: deque[tuple[float, str, str]] = deque()
        self.log: deque[LoggedRequest] = deque(maxlen=LOG_SIZE)

    def add(self, ip: str, kind: str) -> None:
        per_ip = self.totals.setdefault(ip, dict.fromkeys(KINDS, 0))
        per_ip[kind] += 1
        now = self._clock()
        self._recent.append((now, ip, kind))
        self._prune(now)

    def record(self, ip: str, path: str, *, stream: bool, refused: int | None) -> None:
        """One REST request or stream connection, as it was answered."""
        self.log.append(LoggedRequest(self._clock(), ip, path, stream, refused))

    def requests(self, path_prefix: str = "", *, stream: bool | None = None) -> list[LoggedRequest]:
        """Logged requests under `path_prefix` (streams only, REST only, or both), oldest first."""
        return [
            entry
            for entry in self.log
            if entry.path.startswith(path_prefix) and (stream is None or entry.stream == stream)
        ]

    def _prune(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - WINDOW:
            self._recent.popleft()

    def budget_spent(self, ip: str | None = None, seconds: float = WINDOW) -> int:
        """Budget-charged requests (REST + stream iterations) in the last `seconds` (at most an hour)."""
        spent = self.spent_by_kind(ip, seconds)
        return spent["rest"] + spent["stream_iterations"]

    def spent_by_kind(self, ip: str | None = None, seconds: float = WINDOW) -> dict[str, int]:
        """Counts per kind in the last `seconds` (at most an hour)."""
        now = self._clock()
        self._prune(now)
        counts = dict.fromkeys(KINDS, 0)
        for at, who, kind in self._recent:
            if at >= now - seconds and (ip is None or who == ip):
                counts[kind] += 1
        return counts

    def get(self, ip: str) -> dict[str, int]:
        return dict(self.totals.get(ip, dict.fromkeys(KINDS, 0)))

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {ip: {**kinds, "budget_last_hour": self.budget_spent(ip)} for ip, kinds in self.totals.items()}

    def reset(self) -> None:
        self.totals.clear()
        self._recent.clear()
        self.log.clear()
