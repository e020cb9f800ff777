"""The watcher daemon: an explicit lifecycle around streams, the ingestor and housekeeping tasks.

    start → (streams running) READY → … → stop requested → STOPPING → drain → stopped

Accounts mode: one stream per receiving account (`/accounts/{G}/payments?join=transactions`), all on
one event loop. New destinations (allow_any_destination) get a stream as soon as a payment for them
appears in the store, starting no later than that payment's creation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Container, Coroutine
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import structlog
from sqlalchemy.exc import SQLAlchemyError

from shared.apply import context_from_settings
from shared.clock import utcnow
from shared.config import Settings
from shared.stellar.horizon import HorizonClient, HorizonError
from shared.stellar.records import RecordError
from shared.store import payments as payment_store
from shared.store import status as status_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from shared.systemd import notify
from watcher.backoff import Backoff
from watcher.expiry import ExpiryWatcher, NetworkClock
from watcher.ingest import STOP, Ingestor
from watcher.positions import cursor_before
from watcher.streams import StreamReader, StreamRecord
from watcher.webhook_dispatcher import WebhookDispatcher

log = structlog.get_logger("paywatch.watcher")


def account_stream_key(account: str) -> str:
    return f"account:{account}"


class Watcher:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.ctx = context_from_settings(settings)
        self.queue: asyncio.Queue[StreamRecord] = asyncio.Queue(maxsize=2000)
        self.readers: dict[str, StreamReader] = {}
        self.ready = asyncio.Event()
        self.started_at = utcnow()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader_tasks: dict[str, asyncio.Task[None]] = {}
        self._opening: set[str] = set()
        self._last_payment_pk = 0
        self.clock = NetworkClock()
        self.horizon: HorizonClient
        self.ingestor: Ingestor
        self.expiry: ExpiryWatcher
        self.webhooks = WebhookDispatcher(db, settings)

    # -- lifecycle -------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(limit=0)  # streams are long-lived: no pool-size cap
        async with aiohttp.ClientSession(connector=connector) as session:
            self.horizon = HorizonClient(self.settings.network.horizon_urls, session)
            self.ingestor = Ingestor(self.db, self.ctx, self.horizon, self.queue, self._accounts_for)
            self.expiry = ExpiryWatcher(
                self.db,
                self.horizon,
                self.ctx,
                self.clock,
                self._stream_for,
                check_interval=self.settings.watcher.expiry_check_seconds,
            )
            await self.webhooks.prepare()  # endpoints in the store before any event is emitted
            await self._write_status("starting")
            if self.webhooks.has_endpoints:
                self._spawn(self.webhooks.run(), critical=True, name="webhooks")
            ingest_task = self._spawn(self.ingestor.run(), critical=True)
            self._spawn(self.expiry.run(), critical=True)
            async with self.db.read() as conn:
                self._last_payment_pk = await payment_store.max_pk(conn)
                oldest_pending = await payment_store.pending_destinations(conn)
            for account in self.settings.account_addresses:
                self._open_stream(account, oldest_pending.get(account))
            for destination, oldest in oldest_pending.items():
                if destination not in self.settings.account_addresses:
                    self._open_stream(destination, oldest)
            self._spawn(self._poll_payments(), critical=True)
            self._spawn(self._heartbeat(), critical=True)
            log.info("watcher started", mode="accounts", streams=len(self._opening) + len(self.readers))
            self.ready.set()
            notify(f"READY=1\nSTATUS={self._status_line()}")
            failed = await self._wait(stop)
            notify("STOPPING=1\nSTATUS=draining")
            log.info("watcher stopping", reason="failure" if failed else "stop requested")
            await self._drain(ingest_task)
            await self._write_status("stopped")
        if failed is not None:
            raise failed

    async def _wait(self, stop: asyncio.Event) -> BaseException | None:
        """Until a stop is requested or a critical task fails (then the process must exit non-zero)."""
        stopper = asyncio.create_task(stop.wait())
        try:
            while True:
                critical = [task for task in self._tasks if task.get_name().startswith("critical:")]
                done, _ = await asyncio.wait([stopper, *critical], return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    return None
                for task in done:
                    if task.cancelled():
                        continue
                    exc = task.exception()
                    if exc is not None:
                        log.error("critical task failed", task=task.get_name(), error=repr(exc))
                        return exc
                    return RuntimeError(f"{task.get_name()} ended unexpectedly")
        finally:
            stopper.cancel()

    async def _drain(self, ingest_task: asyncio.Task[None]) -> None:
        """Stop reading, let the ingestor finish what it holds, then cancel the rest."""
        for task in list(self._reader_tasks.values()):
            task.cancel()
        await asyncio.gather(*self._reader_tasks.values(), return_exceptions=True)
        if not ingest_task.done():
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(STOP)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(ingest_task), timeout=20)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(
        self, coro: Coroutine[Any, Any, None], *, critical: bool = False, name: str = ""
    ) -> asyncio.Task[None]:
        task_name = ("critical:" if critical else "task:") + (name or getattr(coro, "__name__", "task"))
        task = asyncio.create_task(coro, name=task_name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- streams ---------------------------------------------------------------------------------
    def _accounts_for(self, stream_key: str) -> Container[str]:
        reader = self.readers.get(stream_key)
        return {stream_key.removeprefix("account:")} if reader is not None else ()

    def _stream_for(self, destination: str) -> str | None:
        """The stream whose stored cursor covers `destination` (None while it is being positioned)."""
        key = account_stream_key(destination)
        return key if key in self.readers else None

    def _open_stream(self, account: str, oldest_pending: datetime | None) -> None:
        key = account_stream_key(account)
        if key in self.readers or key in self._opening:
            return
        self._opening.add(key)
        self._spawn(self._start_reader(account, oldest_pending), name=f"open {key}")

    async def _start_reader(self, account: str, oldest_pending: datetime | None) -> None:
        """Find (or, the first time, compute and store) the stream's cursor, then start reading."""
        key = account_stream_key(account)
        backoff = Backoff(base=1, cap=self.settings.watcher.reconnect_max_seconds)
        while True:
            try:
                cursor = await self._stored_or_new_cursor(key, oldest_pending)
                break
            except (HorizonError, aiohttp.ClientError, TimeoutError, SQLAlchemyError, RecordError) as exc:
                log.warning("cannot position new stream yet", stream=key, error=str(exc)[:300])
                await asyncio.sleep(backoff.next_delay())
        reader = StreamReader(
            key=key,
            path=f"/accounts/{account}/payments",
            horizon=self.horizon,
            queue=self.queue,
            cursor=cursor,
            silence_timeout=self.settings.watcher.stream_silence_seconds,
            reconnect_cap=self.settings.watcher.reconnect_max_seconds,
        )
        self.readers[key] = reader
        self._opening.discard(key)
        self._reader_tasks[key] = self._spawn(reader.run(), critical=True, name=f"stream {key}")
        log.info("stream started", stream=key, cursor=cursor)

    async def _stored_or_new_cursor(self, key: str, oldest_pending: datetime | None) -> str:
        async with self.db.read() as conn:
            row = await stream_store.get_stream(conn, key)
        if row is not None:
            return row.cursor
        # First time: start no later than the oldest pending payment (or now), minus a margin for
        # clock differences between this host and the network. Stored at once, so a restart resumes it.
        since = min(oldest_pending or utcnow(), utcnow())
        since -= timedelta(seconds=self.settings.watcher.backfill_margin_seconds)
        cursor = await cursor_before(self.horizon, since)
        async with self.db.write() as conn:
            row = await stream_store.create_stream(conn, key, cursor, utcnow())
        return row.cursor

    # -- housekeeping ----------------------------------------------------------------------------
    async def _poll_payments(self) -> None:
        """Learn about new payments from the store (SQLite: polling; cheap indexed query)."""
        interval = self.settings.watcher.poll_interval_seconds
        while True:
            await asyncio.sleep(interval)
            async with self.db.read() as conn:
                fresh = await payment_store.created_since(conn, self._last_payment_pk)
            for payment in fresh:
                self._last_payment_pk = max(self._last_payment_pk, payment.pk)
                if payment.status == "pending":
                    self._open_stream(payment.destination, payment.created_at)
            if fresh:
                self.expiry.wakeup.set()  # a new payment may expire before the one it waits for

    async def _heartbeat(self) -> None:
        while True:
            await self._write_status("running")
            notify(f"STATUS={self._status_line()}")
            await asyncio.sleep(self.settings.watcher.heartbeat_seconds)

    def _status_line(self) -> str:
        connected = sum(1 for reader in self.readers.values() if reader.state.connected)
        total = len(self.readers) + len(self._opening)
        return f"mode=accounts streams={connected}/{total} backlog={self.queue.qsize()}"

    async def _write_status(self, state: str) -> None:
        now = utcnow()
        details = {
            "queue": self.queue.qsize(),
            "requests": {"rest": self.horizon.requests.rest, "streams": self.horizon.requests.streams}
            if hasattr(self, "horizon")
            else None,
        }
        try:
            async with self.db.write() as conn:
                await status_store.put_status(
                    conn,
                    {
                        "state": state,
                        "mode": "accounts",
                        "pid": os.getpid(),
                        "hostname": socket.gethostname(),
                        "started_at": self.started_at,
                        "heartbeat_at": now,
                        "network_ledger": self.clock.ledger,
                        "network_closed_at": self.clock.closed_at,
                        "details": json.dumps(details),
                    },
                )
                for key, reader in self.readers.items():
                    await stream_store.update_status(
                        conn,
                        key,
                        {
                            "connected": reader.state.connected,
                            "last_event_at": reader.state.last_event_at,
                            "last_error": reader.state.last_error,
                            "status_updated_at": now,
                        },
                    )
        except (
            Exception
        ) as exc:  # the heartbeat must not kill the daemon; a dead store shows as a stale heartbeat
            log.error("cannot write watcher status", error=str(exc)[:300])
