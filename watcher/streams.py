"""One Horizon SSE stream: connect from the cursor, hand records to the ingestor, reconnect.

The reader never decides what a record means; it only frames it, drops repeats (a paging token at
or before the last one it handed over) and reconnects with the last id after `byebye`, errors or
silence. Its cursor in memory runs ahead of the stored one; the stored cursor is what survives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import structlog

from shared import metrics
from shared.clock import utcnow
from shared.stellar.horizon import HorizonClient, HorizonError, NotFound, RateLimited, StreamFailed
from shared.stellar.records import is_paging_token
from shared.stellar.sse import SSEError, SSEEvent
from watcher.backoff import Backoff

log = structlog.get_logger("paywatch.watcher.stream")


@dataclass(frozen=True, slots=True)
class StreamRecord:
    stream: str
    paging_token: str
    data: str  # the raw JSON text of the record


@dataclass
class StreamState:
    """What operators see about one stream (written to the store by the heartbeat)."""

    key: str
    connected: bool = False
    last_event_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    connects: int = 0
    errors: int = 0
    records: int = 0  # records handed to the ingestor
    repeats: int = 0  # records dropped because their paging token was not after the cursor
    cursor_ahead: bool = False  # the cursor is past the network's latest ledger (a reset network)
    # time.monotonic() of the current connection's hello and of the last record (lag: watcher/health.py)
    connected_since: float = 0.0
    last_record_seen: float = 0.0


@dataclass
class StreamReader:
    key: str
    path: str
    horizon: HorizonClient
    queue: asyncio.Queue[Any]
    cursor: str
    silence_timeout: float
    reconnect_cap: float = 60.0
    not_found_retry: float = 30.0  # an account with no history yet: look again later, quietly
    state: StreamState = field(init=False)
    backoff: Backoff = field(init=False)
    # Set once the first connection attempt has an outcome: connected (hello) or failed.
    first_attempt: asyncio.Event = field(init=False)

    def __post_init__(self) -> None:
        self.state = StreamState(self.key)
        self.backoff = Backoff(base=0.25, cap=self.reconnect_cap)
        self.first_attempt = asyncio.Event()

    async def run(self) -> None:
        not_found_logged = False
        while True:
            started = time.monotonic()
            delivered = 0
            try:
                delivered = await self._connection()
                # A clean end (`byebye` after `limit` records, or Horizon's connection timeout): go on at
                # once. A connection that ends instantly with nothing in it is treated as a failure.
                if delivered or time.monotonic() - started > 1.0:
                    self.backoff.reset()
                    continue
                delay = self.backoff.next_delay()
            except NotFound:
                self._down("not_found", "account has no history on Horizon yet", log_it=not not_found_logged)
                not_found_logged = True
                delay = self.not_found_retry
            except RateLimited as exc:
                self._down("rate_limited", "rate limited by Horizon (429)")
                delay = max(exc.retry_after or 0.0, self.backoff.next_delay())
            except (HorizonError, SSEError, aiohttp.ClientError, TimeoutError) as exc:
                reason = (
                    "silent for too long" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
                )
                self._down(_error_kind(exc), reason)
                delay = self.backoff.next_delay()
            await asyncio.sleep(delay)

    def _down(self, kind: str, reason: str, *, log_it: bool = True) -> None:
        self.state.connected = False
        self.state.last_error = reason
        self.state.last_error_at = utcnow()
        self.state.errors += 1
        self.first_attempt.set()
        metrics.STREAM_ERRORS.labels(kind).inc()
        if log_it:
            log.warning("stream down", stream=self.key, reason=reason, cursor=self.cursor)

    async def _connection(self) -> int:
        params = {"cursor": self.cursor, "limit": "200", "order": "asc", "join": "transactions"}
        stream = self.horizon.stream(
            self.path, params, last_event_id=self.cursor, silence_timeout=self.silence_timeout
        )
        async with aclosing(stream):
            delivered = await self._consume(stream)
        return delivered

    async def _consume(self, stream: AsyncGenerator[SSEEvent, None]) -> int:
        delivered = 0
        async for event in stream:
            self.state.last_event_at = utcnow()
            metrics.LAST_EVENT.set(self.state.last_event_at.timestamp())
            if event.event == "open":
                self.state.connected = True
                self.state.connected_since = time.monotonic()
                self.state.connects += 1
                self.first_attempt.set()
                metrics.STREAM_CONNECTS.inc()
                if self.state.connects > 1:
                    metrics.STREAM_RECONNECTS.inc()
                continue
            if event.event == "close":
                break
            if event.event == "error":
                raise StreamFailed(f"Horizon stream error: {event.data[:200]}")
            if not is_paging_token(event.id):
                # Not a record, or an id that cannot be a cursor ("²", 30 digits): nothing to place in
                # the stream's order, and the cursor never moves to it.
                continue
            if int(event.id) <= int(self.cursor):
                self.state.repeats += 1  # a repeated record: already handed over
                continue
            await self.queue.put(StreamRecord(self.key, event.id, event.data))
            self.cursor = event.id
            self.state.records += 1
            self.state.last_record_seen = time.monotonic()
            metrics.STREAM_RECORDS.inc()
            delivered += 1
        return delivered


def _error_kind(exc: BaseException) -> str:
    """A bounded label for stream_errors_total."""
    if isinstance(exc, TimeoutError):
        return "silence"
    if isinstance(exc, SSEError | StreamFailed):
        return "protocol"
    if isinstance(exc, HorizonError):
        return "http"
    return "connection"
