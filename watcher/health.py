"""The watcher's health: heartbeat, stream lag, the systemd watchdog and STATUS= line.

Progress, the condition for `WATCHDOG=1` (and for `/healthz` on the metrics listener):
- the event loop turns (the ping is sent from it, so a wedged loop sends nothing);
- the store answers: the heartbeat write committed within `stale_after` seconds;
- received records are being committed: none is waiting (in the queue or in the batch being
  applied), or a batch committed within `stale_after` seconds.
Horizon being unreachable is NOT a watchdog failure: a restart would not bring it back. It shows in
STATUS=, the metrics and `paywatch status` (streams down, lag growing) and alerts fire on those.

Lag of a stream = now − the network time up to which it is known processed: the close time of the
newest record committed while records are arriving, and "now" while the stream is connected, quiet
for SETTLE_SECONDS and has nothing waiting to be committed (Horizon sends everything after the
cursor right after `hello`, then one batch per ledger). A disconnected stream's lag keeps growing.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from shared import metrics
from shared.clock import utcnow
from shared.store import backlog as backlog_store
from shared.store import payments as payment_store
from shared.store import status as status_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from shared.systemd import notify, status_text
from shared.views import iso
from watcher.expiry import NetworkClock
from watcher.ingest import Ingestor
from watcher.streams import StreamReader

log = structlog.get_logger("paywatch.watcher.health")

SETTLE_SECONDS = 2.0
CURSOR_AHEAD = "cursor ahead of the network's latest ledger (network reset?)"
MAX_ERRORS_KEPT = 10


class WatcherView(Protocol):
    """What health needs to see of the daemon."""

    readers: dict[str, StreamReader]
    ingestor: Ingestor
    clock: NetworkClock
    started_at: datetime
    instance: str
    role: str  # "leader" | "standby"

    @property
    def mode(self) -> str: ...

    @property
    def streams_opening(self) -> int: ...

    def request_counts(self) -> dict[str, int] | None: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Assessment:
    ok: bool
    problems: tuple[str, ...]


class Health:
    def __init__(
        self,
        watcher: WatcherView,
        db: Database,
        *,
        heartbeat_seconds: float,
        watchdog_seconds: float | None,
    ) -> None:
        self.watcher = watcher
        self.db = db
        self.watchdog_seconds = watchdog_seconds
        # Ping at a quarter of WatchdogSec; the heartbeat must be fresh within half of it.
        self.tick = min(heartbeat_seconds, watchdog_seconds / 4) if watchdog_seconds else heartbeat_seconds
        self.stale_after = watchdog_seconds / 2 if watchdog_seconds else 3 * heartbeat_seconds
        self.ready = False
        self.stopping = False
        self.metrics_url: str | None = None
        self.pending: int | None = None
        self.outbox_backlog: int | None = None
        started = time.monotonic()
        self._store_ok_at = started
        self._pipeline_ok_at = started
        self._batches_seen = 0
        self._records_seen: dict[str, int] = {}
        self._positions: dict[str, datetime] = {}
        self._errors_seen: dict[str, int] = {}
        self.lags: dict[str, float | None] = {}
        self.last_errors: deque[dict[str, Any]] = deque(maxlen=MAX_ERRORS_KEPT)
        self._last_status = ""

    # -- assessment ------------------------------------------------------------------------------
    def observe(self) -> Assessment:
        """Update lags, gauges and the progress clocks; what is wrong, if anything."""
        now_mono = time.monotonic()
        now = utcnow()
        ingestor = self.watcher.ingestor
        queued = ingestor.uncommitted
        # A standby applies nothing: its progress is its heartbeat alone.
        if queued == 0 or ingestor.applied_batches != self._batches_seen or self.watcher.role != "leader":
            self._pipeline_ok_at = now_mono
        self._batches_seen = ingestor.applied_batches
        self._observe_streams(now, now_mono)

        problems = []
        store_age = now_mono - self._store_ok_at
        if store_age > self.stale_after:
            problems.append(f"store not answering (last heartbeat write {store_age:.0f} s ago)")
        pipeline_age = now_mono - self._pipeline_ok_at
        if pipeline_age > self.stale_after:
            problems.append(f"{queued} records not committed for {pipeline_age:.0f} s")

        connected = sum(1 for reader in self.watcher.readers.values() if reader.state.connected)
        metrics.STREAMS.labels("connected").set(connected)
        metrics.STREAMS.labels("disconnected").set(len(self.watcher.readers) - connected)
        metrics.STREAMS.labels("starting").set(self.watcher.streams_opening)
        known = [lag for lag in self.lags.values() if lag is not None]
        metrics.LEDGER_LAG.set(max(known, default=0.0))
        metrics.INGEST_QUEUE.set(queued)
        assessment = Assessment(not problems, tuple(problems))
        metrics.HEALTHY.set(1 if assessment.ok else 0)
        return assessment

    def _observe_streams(self, now: datetime, now_mono: float) -> None:
        ingestor = self.watcher.ingestor
        for key, reader in self.watcher.readers.items():
            state = reader.state
            in_flight = state.records - ingestor.committed[key]
            busy = in_flight > 0 or state.records != self._records_seen.get(key, 0)
            self._records_seen[key] = state.records
            position = self._positions.get(key)
            if busy:
                position = ingestor.committed_closed_at.get(key, position)
            elif state.connected and now_mono - max(state.connected_since, state.last_record_seen) >= (
                SETTLE_SECONDS
            ):
                position = now
            if position is not None:
                self._positions[key] = position
            self.lags[key] = max((now - position).total_seconds(), 0.0) if position is not None else None
            if state.errors != self._errors_seen.get(key, 0) and state.last_error:
                self._errors_seen[key] = state.errors
                self.note_error(key, state.last_error, state.last_error_at)

    def note_error(self, source: str, error: str, at: datetime | None = None) -> None:
        """Keep an error for `paywatch status` (the latest first, a bounded number)."""
        self.last_errors.appendleft({"at": iso(at or utcnow()), "source": source, "error": error[:300]})

    def status_line(self, assessment: Assessment | None = None) -> str:
        readers = self.watcher.readers
        connected = sum(1 for reader in readers.values() if reader.state.connected)
        total = len(readers) + self.watcher.streams_opening
        known = [lag for lag in self.lags.values() if lag is not None]
        lag = f"{max(known):.0f}s" if known else "unknown"
        outbox = "unknown" if self.outbox_backlog is None else str(self.outbox_backlog)
        line = (
            f"mode={self.watcher.mode} streams={connected}/{total} lag={lag} "
            f"queue={self.watcher.ingestor.uncommitted} outbox={outbox}"
        )
        notes = list(assessment.problems) if assessment is not None else []
        down = [reader.state for reader in readers.values() if not reader.state.connected]
        if down and down[0].last_error:  # not a watchdog failure, but what `systemctl status` should say
            notes.append(f"{len(down)} stream(s) down: {down[0].last_error}")
        if notes:
            line += " — " + "; ".join(notes)
        return status_text(line)

    # -- the loops -------------------------------------------------------------------------------
    async def watchdog(self) -> None:
        """Every tick: assess, ping systemd while healthy (after READY), keep STATUS= current."""
        while True:
            assessment = self.observe()
            line = self.status_line(assessment)
            message = []
            if self.ready and not self.stopping:
                if assessment.ok and self.watchdog_seconds:
                    message.append("WATCHDOG=1")
                if line != self._last_status:
                    message.append(f"STATUS={line}")
                    self._last_status = line
            if message:
                notify("\n".join(message))
            await asyncio.sleep(self.tick)

    async def heartbeat(self) -> None:
        """Write the heartbeat (the store probe) and refresh what operators read from the store."""
        while True:
            if await self.write_status("running"):
                self._store_ok_at = time.monotonic()
                metrics.HEARTBEAT.set(time.time())
                await self._refresh_counts()
            await asyncio.sleep(self.tick)

    async def _refresh_counts(self) -> None:
        try:
            async with self.db.read() as conn:
                counts = await payment_store.count_by_status(conn)
                self.outbox_backlog = await backlog_store.outbox_backlog(conn)
        except Exception as exc:  # reported by the next heartbeat; never kills the daemon
            log.warning("cannot read payment counts", error=str(exc)[:300])
            return
        self.pending = counts.get("pending", 0)
        metrics.PENDING_PAYMENTS.set(self.pending)

    def details(self) -> dict[str, Any]:
        readers = self.watcher.readers
        return {
            "queue": self.watcher.ingestor.uncommitted,
            "requests": self.watcher.request_counts(),
            "metrics_url": self.metrics_url,
            "heartbeat_interval_seconds": self.tick,
            "outbox_backlog": self.outbox_backlog,
            "coverage": self.watcher.summary(),
            "streams": {
                key: {
                    "lag_seconds": _rounded(self.lags.get(key)),
                    "connects": reader.state.connects,
                    "errors": reader.state.errors,
                    "records": reader.state.records,
                    "last_error_at": iso(reader.state.last_error_at),
                }
                for key, reader in readers.items()
            },
            "last_errors": list(self.last_errors),
        }

    async def write_status(self, state: str) -> bool:
        """The watcher's row and each stream's volatile state; False (logged) when the store fails."""
        now = utcnow()
        readers: Mapping[str, StreamReader] = self.watcher.readers
        try:
            async with self.db.write() as conn:
                await status_store.put_status(
                    conn,
                    self.watcher.instance,
                    {
                        "role": self.watcher.role,
                        "state": state,
                        "mode": self.watcher.mode,
                        "pid": os.getpid(),
                        "hostname": socket.gethostname(),
                        "started_at": self.watcher.started_at,
                        "heartbeat_at": now,
                        "network_ledger": self.watcher.clock.ledger,
                        "network_closed_at": self.watcher.clock.closed_at,
                        "last_error": self.last_errors[0]["error"] if self.last_errors else None,
                        "details": json.dumps(self.details()),
                    },
                )
                for key, reader in readers.items():
                    await stream_store.update_status(
                        conn,
                        key,
                        {
                            "connected": reader.state.connected,
                            "last_event_at": reader.state.last_event_at,
                            "last_error": CURSOR_AHEAD
                            if reader.state.cursor_ahead
                            else reader.state.last_error,
                            "status_updated_at": now,
                        },
                    )
        except Exception as exc:  # a dead store shows as a stale heartbeat and stops the watchdog pings
            log.error("cannot write watcher status", error=str(exc)[:300])
            self.note_error("store", f"heartbeat write failed: {str(exc)[:200]}")
            return False
        return True


def _rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None
