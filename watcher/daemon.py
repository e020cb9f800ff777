"""The watcher daemon: an explicit lifecycle around streams, the ingestor and housekeeping tasks.

    start → (streams running) READY → … → stop requested → STOPPING → drain → stopped

Modes (SPEC §5.1):
- accounts: one SSE stream per watched account (`/accounts/{G}/payments?join=transactions`).
- network: one SSE stream over every payment (`/payments?join=transactions`), filtered here.
- auto: accounts while their request cost fits the budget, network otherwise (and back).

Coverage, and why nothing is lost: every watched destination D has a row `account:D` whose cursor
says how far D's history has been applied. In network mode D either *follows* the network stream
(covered up to the network cursor) or is being *backfilled* — REST pages of its own history from its
cursor up to where the network stream was when D joined. D is in the network filter from the moment
it is discovered, so the network stream covers everything after the join point and the backfill
everything before; overlap is harmless because receipts are unique. Switching accounts → network
starts the network stream at the OLDEST account cursor; network → accounts starts every follower's
own stream at the network cursor. Both switches first drain the ingestor.

Health (heartbeat, lag, watchdog pings, STATUS=) lives in `health.py`; the Prometheus and `/healthz`
listener in `metrics_http.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
from collections.abc import Container, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import aiohttp
import structlog
from sqlalchemy.exc import SQLAlchemyError

from shared import metrics
from shared.apply import context_from_settings
from shared.clock import utcnow
from shared.config import Settings
from shared.stellar.horizon import HorizonClient, HorizonError, NotFound
from shared.stellar.records import RecordError, ledger_of_token, parse_time
from shared.store import payments as payment_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from shared.store.leases import LeaseLost
from shared.store.notifications import PAYMENTS_CHANNEL, listen
from shared.systemd import notify, watchdog_interval
from watcher.backoff import Backoff
from watcher.expiry import ExpiryWatcher, NetworkClock
from watcher.health import Assessment, Health
from watcher.ingest import STOP, Ingestor, QueueItem
from watcher.leadership import Leadership
from watcher.metrics_http import MetricsServer
from watcher.positions import cursor_before
from watcher.sep29 import check_memo_required
from watcher.streams import StreamReader, StreamRecord
from watcher.tasks import cancel_all
from watcher.webhook_dispatcher import WebhookDispatcher

log = structlog.get_logger("paywatch.watcher")

Mode = Literal["accounts", "network"]
NETWORK = "network"
DEFAULT_LEDGERS_PER_HOUR = 720.0  # ~5 s ledgers, until measured
# auto: go to network mode above this share of the budget for streams, back below the lower one.
SWITCH_UP = 0.7
SWITCH_DOWN = 0.35
POSITION_CHECK_EVERY = 6  # heartbeats between checks that cursors are not ahead of the network
FINAL_STATUS_TIMEOUT = 5.0  # a dead store must not hold the stop past systemd's TimeoutStopSec


def account_stream_key(account: str) -> str:
    return f"account:{account}"


def stream_cost_per_hour(streams: int, ledgers_per_hour: float) -> float:
    """An open Horizon stream spends about one request per ledger."""
    return streams * ledgers_per_hour


def choose_mode(current: Mode, destinations: int, ledgers_per_hour: float, budget: int) -> Mode:
    """auto: per-account streams while they fit the budget, with hysteresis around the switch."""
    cost = stream_cost_per_hour(destinations, ledgers_per_hour)
    if current == "accounts" and cost > SWITCH_UP * budget:
        return "network"
    if current == "network" and cost < SWITCH_DOWN * budget:
        return "accounts"
    return current


class Watcher:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.ctx = context_from_settings(settings)
        self.queue: asyncio.Queue[QueueItem] = asyncio.Queue(maxsize=2000)
        self.readers: dict[str, StreamReader] = {}
        self.destinations: dict[str, datetime | None] = {}  # watched → oldest pending payment (hint)
        self.followers: set[str] = set()  # network mode: destinations covered by the network stream
        # SEP-29: receiving accounts found without the memo-required flag (set once checked)
        self.memo_not_required: list[str] = []
        self.memo_checked = asyncio.Event()
        self.mode: Mode = "network" if settings.watcher.mode == "network" else "accounts"
        self.switches = 0
        self.ready = asyncio.Event()
        self.started_at = utcnow()
        self.clock = NetworkClock()
        self._tasks: set[asyncio.Task[None]] = set()  # the leader's session
        self._process_tasks: set[asyncio.Task[None]] = set()  # health: the whole process
        self._reader_tasks: dict[str, asyncio.Task[None]] = {}
        self._joining: dict[str, asyncio.Task[None]] = {}  # account streams being positioned, backfills
        self._switch_lock = asyncio.Lock()
        self._last_payment_pk = 0
        self._ahead_logged: dict[str, float] = {}
        self._positions: dict[datetime, str] = {}  # start-position searches already done
        self._network_origin: datetime | None = None  # `since` of a network stream positioned this run
        self._streams_started = asyncio.Event()  # every stream opened at start is reading
        self._positioning_failed = asyncio.Event()  # a retried start step (positioning a stream) failed
        self._payments_changed = asyncio.Event()  # LISTEN/NOTIFY wake-up for the payment poller
        self.listening = asyncio.Event()  # PostgreSQL: set while the leader's LISTEN is in effect
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._role = "standby"
        metrics.LEADER.set(0)
        self.leadership = Leadership(db, self.instance, lease_seconds=settings.watcher.leader_lease_seconds)
        self.horizon: HorizonClient
        self.ingestor: Ingestor
        self.expiry: ExpiryWatcher
        self.health = Health(
            self,
            db,
            heartbeat_seconds=settings.watcher.heartbeat_seconds,
            watchdog_seconds=watchdog_interval(),
        )
        self.metrics_server = MetricsServer(
            settings.watcher.metrics_host, settings.watcher.metrics_port, self._assess
        )
        self.webhooks = WebhookDispatcher(db, settings)

    @property
    def role(self) -> str:
        """Leader or standby (see watcher/leadership.py); the `paywatch_watcher_leader` gauge follows it."""
        return self._role

    @role.setter
    def role(self, role: str) -> None:
        self._role = role
        metrics.LEADER.set(1 if role == "leader" else 0)

    @property
    def streams_opening(self) -> int:
        return len(self._joining)

    def request_counts(self) -> dict[str, int] | None:
        if not hasattr(self, "horizon"):
            return None
        return {"rest": self.horizon.requests.rest, "streams": self.horizon.requests.streams}

    def summary(self) -> dict[str, Any]:
        """What the status row shows about coverage (besides each stream)."""
        return {
            "destinations": len(self.destinations),
            "followers": len(self.followers),
            "joining": len(self._joining),
            "switches": self.switches,
        }

    def _assess(self) -> tuple[bool, Assessment]:
        return self.ready.is_set(), self.health.observe()

    # -- lifecycle -------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(limit=0)  # streams are long-lived: no pool-size cap
        async with aiohttp.ClientSession(connector=connector) as session:
            self.horizon = HorizonClient(self.settings.network.horizon_urls, session)
            self._new_session()
            self.health.metrics_url = await self.metrics_server.start() + "/metrics"
            try:
                await self._serve(stop)
            finally:
                await self.leadership.release()
                await self.metrics_server.stop()

    def _new_session(self) -> None:
        """Fresh per-leadership state: nothing read or queued under a previous lease survives."""
        self.queue = asyncio.Queue(maxsize=2000)
        self.readers = {}
        self.destinations = {}
        self.followers = set()
        self._reader_tasks = {}
        self._joining = {}
        self._streams_started = asyncio.Event()
        self._positioning_failed = asyncio.Event()
        self.mode = "network" if self.settings.watcher.mode == "network" else "accounts"
        self.ingestor = Ingestor(
            self.db, self.ctx, self.horizon, self.queue, self._accounts_for, fence=self.leadership.fence
        )
        self.ingestor.after_commit.append(self._wake_dispatcher)
        self.expiry = ExpiryWatcher(
            self.db,
            self.horizon,
            self.ctx,
            self.clock,
            self._stream_for,
            check_interval=self.settings.watcher.expiry_check_seconds,
            fence=self.leadership.fence,
        )

    async def _serve(self, stop: asyncio.Event) -> None:
        """Stand by until this process leads; lead until stopped, or stand by again if deposed."""
        await self.webhooks.prepare()  # endpoints in the store before any event is emitted
        await self.health.write_status("starting")
        process_tasks = [
            self._spawn(self.health.heartbeat(), critical=True, name="heartbeat", process=True),
            self._spawn(self.health.watchdog(), critical=True, name="watchdog", process=True),
        ]
        if self.webhooks.has_endpoints:
            # Every watcher process delivers, leader or standby: claims are SKIP LOCKED with leases.
            process_tasks.append(
                self._spawn(self.webhooks.run(), critical=True, name="webhooks", process=True)
            )
        try:
            while not stop.is_set():
                self.role = "standby"
                self._spawn(self._announce_standby(), name="announce standby", process=True)
                if not await self.leadership.acquire(stop):
                    break
                self.role = "leader"
                if await self._lead(stop) == "stopped":
                    break
                self._new_session()
        finally:
            self.health.stopping = True  # no WATCHDOG=1 after STOPPING=1
            await cancel_all(process_tasks)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.health.write_status("stopped"), FINAL_STATUS_TIMEOUT)

    async def _lead(self, stop: asyncio.Event) -> str:
        """The leader's session; returns "stopped" after a clean drain or "lost" when deposed."""
        ingest_task = self._spawn(self.ingestor.run(), critical=True, name="ingest")
        self._spawn(self.leadership.keep(), critical=True, name="lease")
        self._spawn(self.expiry.run(), critical=True, name="expiry")
        async with self.db.read() as conn:
            self._last_payment_pk = await payment_store.max_pk(conn)
            oldest_pending = await payment_store.pending_destinations(conn)
        for account in self.settings.account_addresses:
            self.destinations[account] = oldest_pending.get(account)
        for destination, oldest in oldest_pending.items():
            self.destinations.setdefault(destination, oldest)
        if self.settings.watcher.mode == "auto":
            self.mode = choose_mode("accounts", len(self.destinations), DEFAULT_LEDGERS_PER_HOUR, self.budget)
        await self._start_mode()
        self._spawn(self._poll_payments(), critical=True, name="poll")
        if self.db.backend == "postgresql":
            self._spawn(self._listen_for_payments(), name="listen")
        self._spawn(self._supervise(), critical=True, name="supervise")
        self._spawn(self._announce_ready(), name="announce ready")
        self._spawn(self._check_memo_required(), name="memo-required check")
        log.info("watcher started", mode=self.mode, destinations=len(self.destinations))
        outcome = await self._wait(stop)
        if outcome == "lost":
            # Deposed: stop writing at once. Nothing is drained; whatever was not committed is read
            # again by the next leader from the stored cursors.
            await self._cancel_session()
            return "lost"
        notify("STOPPING=1\nSTATUS=draining")
        log.info(
            "watcher stopping", reason="failure" if isinstance(outcome, BaseException) else "stop requested"
        )
        await self._drain(ingest_task)
        await self.leadership.release()
        if isinstance(outcome, BaseException):
            raise outcome
        return "stopped"

    async def _check_memo_required(self) -> None:
        """Warn (once per leadership) about receiving accounts without SEP-29's memo-required flag."""
        self.memo_not_required = await check_memo_required(
            self.horizon, self.settings.account_addresses, self.budget
        )
        self.memo_checked.set()

    async def _announce_ready(self) -> None:
        """READY=1 once the streams run (SPEC §5.5): every stream opened at start is positioned and its
        first connection has an outcome. Connected, normally; if Horizon is down the watcher is still
        up and retrying (STATUS= and the metrics say so) rather than failing its start. That holds
        before a first start has a cursor, too: an unreachable Horizon is a reason to retry, and a
        start that never reported READY would only be restarted by systemd into the same outage."""
        positioned = asyncio.ensure_future(self._streams_started.wait())
        failed = asyncio.ensure_future(self._positioning_failed.wait())
        try:
            await asyncio.wait({positioned, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            positioned.cancel()
            failed.cancel()
        await asyncio.gather(*(reader.first_attempt.wait() for reader in list(self.readers.values())))
        await self.health.write_status("running")  # operators see the streams as they are at READY
        self._ready_once(f"watcher ready (leader, {len(self.readers)} streams)")

    async def _announce_standby(self) -> None:
        """A standby is up and doing its job (waiting to take over): READY for systemd, too."""
        await asyncio.sleep(self.leadership.lease_seconds / 4)
        if self.role == "standby":
            await self.health.write_status("running")
            self._ready_once("watcher ready (standby)")

    def _ready_once(self, message: str) -> None:
        if self.ready.is_set():
            return
        self.ready.set()
        self.health.ready = True
        log.info(message, mode=self.mode, role=self.role, metrics=self.health.metrics_url)
        notify(f"READY=1\nSTATUS={self.health.status_line()}")

    @property
    def budget(self) -> int:
        return self.settings.watcher.request_budget_per_hour

    async def _wait(self, stop: asyncio.Event) -> BaseException | str | None:
        """Until a stop is requested (None), the lease is lost ("lost"), or a critical task fails."""
        stopper = asyncio.create_task(stop.wait())
        deposed = asyncio.create_task(self.leadership.lost.wait())
        try:
            while True:
                critical = [task for task in self._all_tasks() if task.get_name().startswith("critical:")]
                # Re-read the task list every second: readers come and go with mode switches.
                done, _ = await asyncio.wait(
                    [stopper, deposed, *critical], return_when=asyncio.FIRST_COMPLETED, timeout=1.0
                )
                if stopper in done:
                    return None
                if deposed in done:
                    return "lost"
                for task in done:
                    if task.cancelled():
                        continue  # a reader stopped on purpose (mode switch)
                    exc = task.exception()
                    if isinstance(exc, LeaseLost):
                        self.leadership.lost.set()
                        return "lost"
                    if exc is not None:
                        log.error("critical task failed", task=task.get_name(), error=repr(exc))
                        return exc
                    return RuntimeError(f"{task.get_name()} ended unexpectedly")
        finally:
            stopper.cancel()
            deposed.cancel()

    async def _drain(self, ingest_task: asyncio.Task[None]) -> None:
        """Stop reading, let the ingestor finish what it holds, then cancel the rest of the session."""
        await self._stop_readers(forget=False)
        if not ingest_task.done():
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(STOP)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(ingest_task), timeout=20)
        await self._cancel_session()

    async def _cancel_session(self) -> None:
        await cancel_all(list(self._tasks))

    def _all_tasks(self) -> list[asyncio.Task[None]]:
        return [*self._tasks, *self._process_tasks]

    async def _listen_for_payments(self) -> None:
        """PostgreSQL: LISTEN for new payments (the API notifies in the creating transaction)."""
        async for _ in listen(self.db.url, PAYMENTS_CHANNEL, self.listening):
            self._payments_changed.set()

    def _spawn(
        self,
        coro: Coroutine[Any, Any, None],
        *,
        critical: bool = False,
        name: str = "",
        process: bool = False,
    ) -> asyncio.Task[None]:
        """A task of the leader's session (cancelled with it), or of the whole process."""
        task_name = ("critical:" if critical else "task:") + (name or getattr(coro, "__name__", "task"))
        task = asyncio.create_task(coro, name=task_name)
        tasks = self._process_tasks if process else self._tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    # -- coverage --------------------------------------------------------------------------------
    def _accounts_for(self, stream_key: str) -> Container[str]:
        """Which credits a record from this stream may carry: its account's, or every watched one's."""
        if stream_key == NETWORK:
            return self.destinations
        account = stream_key.removeprefix("account:")
        return {account} if account in self.destinations else ()

    def _stream_for(self, destination: str) -> str | None:
        """The stream whose stored cursor covers `destination` (None while it is not positioned yet)."""
        if self.mode == "network":
            return NETWORK if destination in self.followers and NETWORK in self.readers else None
        key = account_stream_key(destination)
        return key if key in self.readers else None

    def _watch(self, destination: str, oldest_pending: datetime | None) -> None:
        """Start covering a destination (a configured account, or one a new payment names)."""
        if destination in self.destinations and (
            destination in self.followers
            or destination in self._joining
            or account_stream_key(destination) in self.readers
        ):
            return
        self.destinations.setdefault(destination, oldest_pending)
        if self.mode == "network":
            self._join(destination)
        else:
            self._open_account_stream(destination)

    async def _start_mode(self) -> None:
        if self.mode == "network":
            await self._start_network()
            self._streams_started.set()  # backfills of joining destinations may still run
            await self._follow_without_backfill()
            for destination in list(self.destinations):
                self._join(destination)
        else:
            await self._unfollow_all()
            for destination in list(self.destinations):
                self._open_account_stream(destination)
            if not self._joining:
                self._streams_started.set()

    async def _stop_readers(self, *, forget: bool = True) -> None:
        """Stop every stream and backfill; `forget` them for a mode switch (kept for the final status)."""
        await cancel_all([*self._reader_tasks.values(), *self._joining.values()])
        self._reader_tasks.clear()
        self._joining.clear()
        if forget:
            self.readers.clear()

    async def switch_mode(self, mode: Mode) -> None:
        """Move between accounts and network mode without losing or doubling anything."""
        async with self._switch_lock:
            if mode == self.mode:
                return
            log.info(
                "switching stream mode",
                from_mode=self.mode,
                to_mode=mode,
                destinations=len(self.destinations),
            )
            await self._stop_readers()
            await self.ingestor.drained()  # every record read so far is committed with its cursor
            if mode == "network":
                await self._follow_all_from_oldest()
            self.mode = mode
            self.followers.clear()
            await self._start_mode()
            self.switches += 1

    # -- accounts mode ---------------------------------------------------------------------------
    def _open_account_stream(self, account: str) -> None:
        key = account_stream_key(account)
        if key in self.readers or account in self._joining:
            return
        self._joining[account] = self._spawn(self._start_account_reader(account), name=f"open {key}")

    async def _start_account_reader(self, account: str) -> None:
        key = account_stream_key(account)
        cursor = await self._retrying(lambda: self._stored_or_new_cursor(account), what=f"position {key}")
        self._reader(key, f"/accounts/{account}/payments", cursor)
        self._joining.pop(account, None)
        if not self._joining:
            self._streams_started.set()
        log.info("stream started", stream=key, cursor=cursor)

    def _reader(self, key: str, path: str, cursor: str) -> StreamReader:
        reader = StreamReader(
            key=key,
            path=path,
            horizon=self.horizon,
            queue=self.queue,
            cursor=cursor,
            silence_timeout=self.settings.watcher.stream_silence_seconds,
            reconnect_cap=self.settings.watcher.reconnect_max_seconds,
            not_found_retry=self.settings.watcher.not_found_retry_seconds,
        )
        self.readers[key] = reader
        self._reader_tasks[key] = self._spawn(reader.run(), critical=True, name=f"stream {key}")
        return reader

    async def _stored_or_new_cursor(self, account: str) -> str:
        """The account row's cursor; the first time, a start no later than its oldest pending payment."""
        key = account_stream_key(account)
        async with self.db.read() as conn:
            row = await stream_store.get_stream(conn, key)
        if row is not None:
            return row.cursor
        cursor = await self._start_position(self._since(account))
        async with self.leadership.write() as conn:
            row = await stream_store.create_stream(conn, key, cursor, utcnow())
        return row.cursor

    def _since(self, destination: str) -> datetime:
        """Where a destination's history must be read from: its oldest pending payment (or now),
        minus a margin for clock differences between this host and the network, rounded down to
        the minute (so that destinations of the same minute share one position search)."""
        since = min(self.destinations.get(destination) or utcnow(), utcnow())
        since -= timedelta(seconds=self.settings.watcher.backfill_margin_seconds)
        return since.replace(second=0, microsecond=0)

    async def _start_position(self, since: datetime) -> str:
        """The cursor of the last ledger before `since` (searched once per minute value)."""
        cached = self._positions.get(since)
        if cached is None:
            cached = await cursor_before(self.horizon, since)
            self._positions[since] = cached
        return cached

    async def _unfollow_all(self) -> None:
        """Entering accounts mode: followers of the network stream resume from its cursor."""
        async with self.leadership.write() as conn:
            keys = [account_stream_key(d) for d in self.destinations]
            rows = await stream_store.rows_by_key(conn, [NETWORK, *keys])
            network = rows.get(NETWORK)
            for key in keys:
                row = rows.get(key)
                if row is None or row.follows != NETWORK:
                    continue
                cursor = row.cursor
                if network is not None and int(network.cursor) > int(cursor):
                    cursor = network.cursor
                await stream_store.set_follows(conn, key, None, cursor, utcnow())

    # -- network mode ----------------------------------------------------------------------------
    async def _start_network(self) -> None:
        cursor = await self._retrying(self._network_cursor, what="position the network stream")
        self._reader(NETWORK, "/payments", cursor)
        log.info("stream started", stream=NETWORK, cursor=cursor)

    async def _network_cursor(self) -> str:
        async with self.db.read() as conn:
            row = await stream_store.get_stream(conn, NETWORK)
            accounts = await stream_store.rows_by_key(
                conn, [account_stream_key(d) for d in self.destinations]
            )
        if row is not None:
            return row.cursor
        own = [int(r.cursor) for r in accounts.values() if r.follows is None]
        if own:
            cursor = str(min(own))  # no later than the oldest account position it covers
        else:
            since = (utcnow() - timedelta(seconds=self.settings.watcher.backfill_margin_seconds)).replace(
                second=0, microsecond=0
            )
            cursor = await self._start_position(since)
            self._network_origin = since
        async with self.leadership.write() as conn:
            row = await stream_store.create_stream(conn, NETWORK, cursor, utcnow())
        return row.cursor

    async def _follow_all_from_oldest(self) -> None:
        """Entering network mode from accounts mode: start at the oldest account cursor; all follow."""
        now = utcnow()
        async with self.leadership.write() as conn:
            keys = [account_stream_key(d) for d in self.destinations]
            rows = await stream_store.rows_by_key(conn, [NETWORK, *keys])
            own = [int(row.cursor) for key, row in rows.items() if key != NETWORK and row.follows is None]
            if not own:
                return
            start = str(min(own))
            if NETWORK in rows:
                await stream_store.set_follows(conn, NETWORK, None, start, now)
            else:
                await stream_store.create_stream(conn, NETWORK, start, now)
            for key in keys:
                if key in rows:
                    await stream_store.set_follows(conn, key, NETWORK, None, now)

    async def _follow_without_backfill(self) -> None:
        """A network stream positioned this run covers every destination whose history starts no
        earlier than it does: those follow it at once, with no Horizon requests (thousands can)."""
        if self._network_origin is None:
            return
        origin = self._network_origin
        cursor = self.readers[NETWORK].cursor
        now = utcnow()
        async with self.leadership.write() as conn:
            rows = await stream_store.rows_by_key(conn, [account_stream_key(d) for d in self.destinations])
            for destination in list(self.destinations):
                if account_stream_key(destination) in rows or self._since(destination) < origin:
                    continue
                await stream_store.create_stream(conn, account_stream_key(destination), cursor, now)
                await stream_store.set_follows(conn, account_stream_key(destination), NETWORK, None, now)
                self.followers.add(destination)

    def _join(self, destination: str) -> None:
        if destination in self.followers or destination in self._joining:
            return
        self._joining[destination] = self._spawn(self._join_network(destination), name=f"join {destination}")

    async def _join_network(self, destination: str) -> None:
        """Cover a destination with the network stream: backfill its history up to the join point."""
        key = account_stream_key(destination)
        async with self.db.read() as conn:
            row = await stream_store.get_stream(conn, key)
        if row is not None and row.follows == NETWORK:
            self.followers.add(destination)
            self._joining.pop(destination, None)
            return
        start = await self._retrying(lambda: self._stored_or_new_cursor(destination), what=f"position {key}")
        # Everything after the network reader's position is covered by it (destination is in the
        # filter already); everything up to it is read here, page by page.
        target = self.readers[NETWORK].cursor
        cursor = start
        while int(cursor) < int(target):
            page = await self._retrying(
                lambda c=cursor: self._history_page(destination, c), what=f"backfill {key}"
            )
            if not page:
                break
            for record in page:
                token = str(record.get("paging_token", ""))
                if not token.isdigit() or int(token) > int(target):
                    cursor = target
                    break
                await self.queue.put(StreamRecord(key, token, json.dumps(record, separators=(",", ":"))))
                cursor = token
        await self.ingestor.drained()
        async with self.leadership.write() as conn:
            await stream_store.set_follows(conn, key, NETWORK, None, utcnow())
        self.followers.add(destination)
        self._joining.pop(destination, None)
        log.info("destination follows the network stream", account=destination, backfilled_from=start)

    async def _history_page(self, destination: str, cursor: str) -> list[dict[str, Any]]:
        params = {"cursor": cursor, "limit": "200", "order": "asc", "join": "transactions"}
        try:
            return await self.horizon.records(f"/accounts/{destination}/payments", params)
        except NotFound:
            return []  # no history yet: nothing to backfill

    async def _retrying(self, step: Any, *, what: str) -> Any:
        backoff = Backoff(base=0.5, cap=self.settings.watcher.reconnect_max_seconds)
        while True:
            try:
                return await step()
            except (HorizonError, aiohttp.ClientError, TimeoutError, SQLAlchemyError, RecordError) as exc:
                log.warning("retrying", step=what, error=str(exc)[:300])
                # Before a stream opens, this is the only place an unreachable Horizon shows up:
                # operators read it in `paywatch status` and /payments/monitor/status.
                self.health.note_error(what, f"{type(exc).__name__}: {exc}")
                self._positioning_failed.set()
                await asyncio.sleep(backoff.next_delay())

    # -- housekeeping ----------------------------------------------------------------------------
    def _wake_dispatcher(self, records: Sequence[StreamRecord], events: int) -> None:
        if events:
            self.webhooks.new_events()

    async def _poll_payments(self) -> None:
        """Learn about new payments from the store (SQLite: polling; cheap indexed query)."""
        interval = self.settings.watcher.poll_interval_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._payments_changed.wait(), timeout=interval)
            self._payments_changed.clear()
            async with self.db.read() as conn:
                fresh = await payment_store.created_since(conn, self._last_payment_pk)
            for payment in fresh:
                self._last_payment_pk = max(self._last_payment_pk, payment.pk)
                if payment.status == "pending":
                    self._watch(payment.destination, payment.created_at)
            if fresh:
                self.expiry.wakeup.set()  # a new payment may expire before the one it waits for

    async def _supervise(self) -> None:
        """Every heartbeat: the auto-mode decision; every few: check cursors against the network."""
        beats = 0
        while True:
            beats += 1
            if self.settings.watcher.mode == "auto":
                wanted = choose_mode(
                    self.mode, len(self.destinations), self.clock.ledgers_per_hour(), self.budget
                )
                if wanted != self.mode:
                    self._spawn(self.switch_mode(wanted), name="switch mode")
            if beats % POSITION_CHECK_EVERY == 1:
                await self._check_positions()
            await asyncio.sleep(self.settings.watcher.heartbeat_seconds)

    async def _check_positions(self) -> None:
        """A cursor ahead of the network's latest ledger means the network was reset: say so loudly."""
        try:
            root = await self.horizon.root()
        except (HorizonError, aiohttp.ClientError, TimeoutError):
            return
        latest = root.get("history_latest_ledger")
        if not isinstance(latest, int):
            return
        with contextlib.suppress(RecordError):
            # Also paces the network clock (which ignores a ledger number that went down; this check must not).
            self.clock.observe(latest, parse_time(root.get("history_latest_ledger_closed_at"), "closed_at"))
        loop = asyncio.get_running_loop()
        for key, reader in self.readers.items():
            ahead = ledger_of_token(reader.cursor) > latest + 1
            reader.state.cursor_ahead = ahead
            if ahead and loop.time() - self._ahead_logged.get(key, -1e9) > 300:
                self._ahead_logged[key] = loop.time()
                log.error(
                    "stream cursor is ahead of the network's latest ledger: was the network reset? "
                    "Payments on the new network are not seen until an operator resets the stream",
                    stream=key,
                    cursor_ledger=ledger_of_token(reader.cursor),
                    network_ledger=latest,
                )
