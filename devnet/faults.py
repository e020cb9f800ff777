"""Fault injection for clients under test: what can go wrong between a watcher and Horizon.

Each fault is scoped (Horizon path prefix; streams, REST requests or both) and expires after
`count` uses (stream connections or requests it affected) and/or `duration_seconds`.

Kinds:
- `status`: answer 429 or 503 (problem JSON, with Retry-After) instead of serving.
- `drop`: close a stream's TCP connection abruptly (no byebye) after `after_events` records.
- `repeat`: `duplicate` sends every record twice; `previous` re-sends the previous record before
  each new one (both after `after_events` records).
- `stall`: send hello, then nothing at all until the client goes away (no byebye, no close).
- `garbage`: after `after_events` records, once: `malformed_line` (a line that is not SSE),
  `bytes` (invalid UTF-8), `invalid_json` (a data line that is not JSON) or `missing_field` (the
  next record without `missing_field`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("status", "drop", "repeat", "stall", "garbage")
SCOPES = ("streams", "rest", "all")
GARBAGE = ("malformed_line", "bytes", "invalid_json", "missing_field")
REPEAT_MODES = ("duplicate", "previous")


@dataclass
class Fault:
    kind: str
    path_prefix: str = ""
    scope: str = "streams"
    count: int | None = None
    duration_seconds: float | None = None
    after_events: int = 0
    status: int = 503
    retry_after: int | None = 1
    repeat: str = "duplicate"
    garbage: str = "malformed_line"
    missing_field: str = "amount"
    id: int = 0
    fired: int = 0
    created_at: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; expected one of {SCOPES}")
        if self.kind != "status" and self.scope != "streams":
            raise ValueError(f"{self.kind!r} faults act on streams only")
        if self.kind == "status" and self.status not in (429, 503):
            raise ValueError("status faults answer 429 or 503")
        if self.garbage not in GARBAGE:
            raise ValueError(f"unknown garbage {self.garbage!r}; expected one of {GARBAGE}")
        if self.repeat not in REPEAT_MODES:
            raise ValueError(f"unknown repeat mode {self.repeat!r}; expected one of {REPEAT_MODES}")
        if (self.count is not None and self.count < 0) or self.after_events < 0:
            raise ValueError("count and after_events must not be negative")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("created_at")
        return data


class FaultRegistry:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        fault.id = next(self._ids)
        fault.created_at = self._clock()
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def active(self) -> list[Fault]:
        now = self._clock()
        self._faults = [f for f in self._faults if not self._expired(f, now)]
        return list(self._faults)

    def _expired(self, fault: Fault, now: float) -> bool:
        if fault.count is not None and fault.fired >= fault.count:
            return True
        return fault.duration_seconds is not None and now - fault.created_at >= fault.duration_seconds

    def take(self, path: str, stream: bool, kinds: tuple[str, ...]) -> Fault | None:
        """The first active fault of `kinds` for this request; using it counts against `count`."""
        for fault in self.active():
            if fault.kind not in kinds or not path.startswith(fault.path_prefix):
                continue
            if fault.scope != "all" and fault.scope != ("streams" if stream else "rest"):
                continue
            fault.fired += 1
            return fault
        return None
