"""Expiry by network time (SPEC §5.4).

A payment's window closes at `expires_at`, judged by ledger close times. It is timed out (or failed
underpaid) only once the watcher has PROVEN that every ledger that closed up to `expires_at` was
processed for its destination:

1. Horizon's root says ledger L is the latest and closed at T ≥ `expires_at`;
2. the first payment operation for the destination after our stored cursor (if any) is in a ledger
   after L — so everything up to L has been applied.

Then, in one transaction, every pending payment at that destination with `expires_at` ≤ T is
closed. A payment paid in a ledger that closed before `expires_at` is therefore confirmed even if
the watcher was down or lagging: the stream applies it before the proof can succeed.

The wall clock is only used to estimate when to look (network time drifts from it; a ledger clock
running ahead or behind is followed, never assumed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.apply import ApplyContext, close_expired
from shared.stellar.horizon import HorizonClient, HorizonError, NotFound
from shared.stellar.records import RecordError, ledger_of_token, parse_time
from shared.store import payments as payment_store
from shared.store import streams as stream_store
from shared.store.engine import Database

log = structlog.get_logger("paywatch.watcher.expiry")


@dataclass
class NetworkClock:
    """The network's time, estimated from the last observed ledger close and the monotonic clock."""

    ledger: int | None = None
    closed_at: datetime | None = None
    observed: float = 0.0  # time.monotonic() of the observation
    observations: int = 0
    first: tuple[int, float] | None = None  # (ledger, monotonic time) of the first observation

    def observe(self, ledger: int, closed_at: datetime) -> None:
        self.observations += 1
        if self.first is None:
            self.first = (ledger, time.monotonic())
        if self.ledger is None or ledger >= self.ledger:
            self.ledger, self.closed_at, self.observed = ledger, closed_at, time.monotonic()

    def estimate(self) -> datetime | None:
        if self.closed_at is None:
            return None
        return self.closed_at + timedelta(seconds=time.monotonic() - self.observed)

    def ledgers_per_hour(self, default: float = 720.0) -> float:
        """The measured ledger pace (from the first and the latest observation), else `default`."""
        if self.first is None or self.ledger is None:
            return default
        ledger, at = self.first
        elapsed = self.observed - at
        if elapsed < 10 or self.ledger <= ledger:
            return default
        return (self.ledger - ledger) / elapsed * 3600

    def age(self) -> float:
        """Seconds since the last observation (infinite before the first)."""
        return time.monotonic() - self.observed if self.closed_at is not None else float("inf")


class ExpiryWatcher:
    def __init__(
        self,
        db: Database,
        horizon: HorizonClient,
        ctx: ApplyContext,
        clock: NetworkClock,
        stream_for: Callable[[str], str | None],
        *,
        check_interval: float,
        fence: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.horizon = horizon
        self.ctx = ctx
        self.clock = clock
        self.stream_for = stream_for  # destination → stream key whose cursor covers it (None: not yet)
        self.check_interval = check_interval
        self.fence = fence
        # An estimate drifts with the network's real ledger pace: re-anchor it this often.
        self.refresh_interval = check_interval * 12
        self.wakeup = asyncio.Event()  # set when payments appear
        self.rounds = 0  # rounds that asked the network whether due payments can be closed
        self.closed = 0

    async def run(self) -> None:
        while True:
            try:
                delay = await self.step()
            except (HorizonError, RecordError, aiohttp.ClientError, TimeoutError, SQLAlchemyError) as exc:
                log.warning("expiry check failed; retrying", error=str(exc)[:300])
                delay = self.check_interval * 4
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=max(delay, 0.01))

    async def step(self) -> float:
        """One round; returns how long to wait before the next one (a wakeup cuts it short)."""
        async with self.db.read() as conn:
            next_due = await payment_store.earliest_pending_expiry(conn)
        if next_due is None:
            return 30.0
        if self.clock.age() > self.refresh_interval:
            await self.observe_network()
        estimate = self.clock.estimate()
        assert estimate is not None
        if estimate < next_due:
            return min((next_due - estimate).total_seconds(), self.refresh_interval)
        if self.clock.age() > self.check_interval / 2:
            await self.observe_network()  # due by the estimate: the proof needs a fresh look
        self.rounds += 1
        through = self.clock.closed_at
        assert through is not None
        assert self.clock.ledger is not None
        if through < next_due:
            return self.check_interval  # the network has not passed it yet: look again at the next ledger
        async with self.db.read() as conn:
            destinations = await payment_store.destinations_expiring(conn, through)
        for destination in destinations:
            await self.close_if_proven(destination, self.clock.ledger, through)
        return self.check_interval

    async def observe_network(self) -> None:
        root = await self.horizon.root()
        ledger = root.get("history_latest_ledger")
        if not isinstance(ledger, int):
            raise RecordError("Horizon root has no history_latest_ledger")
        closed_text = root.get("history_latest_ledger_closed_at")
        if closed_text is None:
            closed_text = (await self.horizon.get(f"/ledgers/{ledger}")).get("closed_at")
        self.clock.observe(ledger, parse_time(closed_text, "closed_at"))

    async def close_if_proven(self, destination: str, ledger: int, through: datetime) -> None:
        key = self.stream_for(destination)
        if key is None:
            return  # its stream is not positioned yet: nothing is proven
        async with self.db.read() as conn:
            stream = await stream_store.get_stream(conn, key)
        if stream is None:
            return
        try:
            pending = await self.horizon.records(
                f"/accounts/{destination}/payments", {"cursor": stream.cursor, "order": "asc", "limit": "1"}
            )
        except NotFound:
            pending = []  # no history at all: nothing can be unprocessed
        if pending and ledger_of_token(str(pending[0].get("paging_token", "0"))) <= ledger:
            return  # a record up to ledger L is not applied yet; the stream will get there
        async with self.db.write() as conn:
            if self.fence is not None:
                await self.fence(conn)
            closed = await close_expired(conn, destination, through, self.ctx)
            await stream_store.set_processed_through(conn, key, through, self.ctx.now())
        for payment_id, event_type in closed:
            log.info(
                "payment window closed by network time",
                payment_id=payment_id,
                transition=event_type,
                account=destination,
            )
        self.closed += len(closed)
