"""The webhook dispatcher: delivers the outbox, inside the watcher process.

One lane per configured endpoint, each with at most `max_in_flight` attempts at a time. A lane
claims (leases) only as many due deliveries as it has free slots, so a hanging or dead endpoint
holds nothing but its own slots: other endpoints claim and deliver as if it were not there. Within
a lane deliveries are independent — a failing event is rescheduled and never holds back later ones
(no ordering is promised; receivers dedupe on `webhook-id` and re-fetch state).

The loop works in rounds: one write transaction records every attempt that finished since the last
round (each under the lease that claimed it) and claims new work for lanes with free slots; then
the claimed attempts start, each an independent task. A claimer that dies leaves its leases to
expire, and those deliveries are due again by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import metrics
from shared.clock import utcnow
from shared.config import Settings
from shared.outbox import configured_endpoints
from shared.store import webhooks as webhook_store
from shared.store.engine import Database
from shared.store.webhooks import DeliveryRow
from watcher.backoff import Backoff
from watcher.tasks import cancel_all
from watcher.webhook_policy import GiveUp, RetrySchedule, retry_after_seconds, verdict_for
from watcher.webhook_sender import AttemptResult, post_signed

log = structlog.get_logger("paywatch.watcher.webhooks")

LEASE_MARGIN_SECONDS = 60.0  # beyond the request timeout: time to record the result
GONE_REASON = "the receiver answered 410 Gone"


@dataclass
class Lane:
    """One endpoint: where and how to send, and how many attempts it has in flight."""

    endpoint_id: int
    name: str
    url: str
    secrets: list[str] = field(repr=False)
    max_in_flight: int
    in_flight: int = 0
    disabled: bool = False
    maybe_more: bool = True  # the last claim was full: more may be due right now
    delivered: int = 0  # deliveries this lane completed since start

    @property
    def free(self) -> int:
        return 0 if self.disabled else self.max_in_flight - self.in_flight


@dataclass(frozen=True, slots=True)
class Finished:
    """An attempt that is over, waiting to be recorded."""

    lane: Lane
    row: DeliveryRow
    token: str
    attempted_at: datetime
    result: AttemptResult


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a finished attempt means for its delivery: its outcome and the row's new values."""

    finished: Finished
    outcome: str  # delivered | retry | failed (final 4xx) | expired | disabled
    changes: dict[str, Any]

    @property
    def gone(self) -> bool:
        return self.finished.result.status == 410

    def attempt(self) -> dict[str, Any]:
        result = self.finished.result
        return {
            "attempted_at": self.finished.attempted_at,
            "duration_ms": round(result.duration * 1000),
            "status_code": result.status,
            "error": result.error,
            "outcome": self.outcome if self.outcome in ("delivered", "retry") else "failed",
        }


def result_class(result: AttemptResult) -> str:
    if result.status is not None:
        return f"{result.status // 100}xx"
    return "timeout" if result.error and result.error.startswith("no answer within") else "error"


class WebhookDispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        now: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        lease_margin: float = LEASE_MARGIN_SECONDS,
    ) -> None:
        self.db = db
        self.settings = settings
        self.delivery = settings.webhook_delivery
        self.now = now
        self.schedule = RetrySchedule(self.delivery.retry_schedule_seconds, self.delivery.retry_jitter, rng)
        self.lease = timedelta(seconds=self.delivery.timeout_seconds + lease_margin)
        self.lanes: dict[str, Lane] = {}
        self.settled = 0  # attempts recorded since start
        self._wakeup = asyncio.Event()
        self._attempts: dict[asyncio.Task[None], str] = {}  # attempts in flight → their lease tokens
        self._finished: list[Finished] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    @property
    def has_endpoints(self) -> bool:
        return bool(self.settings.webhooks)

    async def prepare(self) -> None:
        """Sync the endpoint table with the configuration (before any event can be emitted)."""
        async with self.db.write() as conn:
            rows = await webhook_store.sync_endpoints(conn, configured_endpoints(self.settings), self.now())
        self.lanes = {
            webhook.name: Lane(
                endpoint_id=rows[webhook.name].id,
                name=webhook.name,
                url=webhook.url,
                secrets=webhook.signing_secrets,
                max_in_flight=webhook.max_in_flight,
                disabled=not rows[webhook.name].active,
            )
            for webhook in self.settings.webhooks
        }
        for lane in self.lanes.values():
            metrics.WEBHOOK_ENDPOINT_DISABLED.labels(lane.name).set(1 if lane.disabled else 0)
            if lane.disabled:
                log.warning("webhook endpoint is disabled (enable it with the API)", endpoint=lane.name)

    def new_events(self) -> None:
        """Events were just committed in this process: claim their deliveries now, not at the next poll."""
        for lane in self.lanes.values():
            lane.maybe_more = True
        self._wakeup.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition` holds, checked after each round that recorded attempts."""
        if condition():
            return
        waiter = (condition, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter[1]
        finally:
            self._waiters.remove(waiter)

    async def until_settled(self, count: int) -> None:
        """Wait until this dispatcher has recorded `count` attempts in all."""
        await self.until(lambda: self.settled >= count)

    # -- the loop ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver until cancelled; attempts cut short by the cancellation are handed back at once."""
        poll = self.delivery.poll_interval_seconds
        backoff = Backoff(base=poll, cap=30)
        connector = aiohttp.TCPConnector(limit=0)  # concurrency is bounded per endpoint, by the lanes
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                next_poll = 0.0
                while True:
                    self._wakeup.clear()
                    # A poll (every lane looks for due work: retries, other processes' events) runs on
                    # its own clock: wake-ups from a busy lane must never starve the others' polls.
                    polling = time.monotonic() >= next_poll
                    try:
                        if polling:
                            await self.refresh()
                            next_poll = time.monotonic() + poll
                        await self._round(session, every_lane=polling)
                        backoff.reset()
                        wait = max(0.0, next_poll - time.monotonic())
                    except (SQLAlchemyError, OSError) as exc:
                        log.error("webhook dispatcher cannot use the store", error=str(exc)[:300])
                        wait = backoff.next_delay()
                        next_poll = time.monotonic() + wait
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                    # arrives as the event is set, and the dispatcher would never stop.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._wakeup.wait()
            finally:
                await self._shutdown()

    async def refresh(self) -> None:
        """Endpoint states (enabled again through the API?) and the backlog gauge, from the store."""
        async with self.db.read() as conn:
            endpoints = {row.id: row for row in await webhook_store.list_endpoints(conn)}
            pending = await webhook_store.backlog(conn)
        for lane in self.lanes.values():
            row = endpoints.get(lane.endpoint_id)
            disabled = row is None or not row.active
            if lane.disabled and not disabled:
                log.info("webhook endpoint enabled again", endpoint=lane.name)
                lane.maybe_more = True
            lane.disabled = disabled
            metrics.WEBHOOK_ENDPOINT_DISABLED.labels(lane.name).set(1 if disabled else 0)
            metrics.WEBHOOK_BACKLOG.labels(lane.name).set(pending.get(lane.endpoint_id, 0))

    async def _round(self, session: aiohttp.ClientSession, *, every_lane: bool) -> None:
        """Record finished attempts and claim new work, in ONE transaction; then start the attempts."""
        hungry = [lane for lane in self.lanes.values() if lane.free > 0 and (every_lane or lane.maybe_more)]
        if every_lane and hungry:
            # Look before taking the write lock (SQLite has one writer): most polls find nothing due.
            async with self.db.read() as conn:
                due = await webhook_store.due_endpoints(
                    conn, [lane.endpoint_id for lane in hungry], self.now()
                )
            for lane in hungry:
                lane.maybe_more = lane.endpoint_id in due
            hungry = [lane for lane in hungry if lane.maybe_more]
        if not self._finished and not hungry:
            return
        finished, self._finished = self._finished, []
        settlements = [self._settlement(item) for item in finished]
        try:
            async with self.db.write() as conn:
                recorded = await self._record(conn, settlements)
                gone = {s.finished.lane.name for s in settlements if s.gone}
                claims = await self._claim(conn, [lane for lane in hungry if lane.name not in gone])
        except BaseException:
            self._finished = finished + self._finished  # recorded by a later round
            raise
        self._after_commit(settlements, recorded)
        for lane, token, rows in claims:
            for row in rows:
                lane.in_flight += 1
                task = asyncio.create_task(self._attempt(session, lane, row, token))
                self._attempts[task] = token
                task.add_done_callback(self._attempts.pop)

    async def _claim(
        self, conn: AsyncConnection, lanes: list[Lane]
    ) -> list[tuple[Lane, str, list[DeliveryRow]]]:
        """Lease due deliveries for these lanes, as many as each has free slots."""
        claims = []
        now = self.now()
        for lane in lanes:
            if lane.free <= 0:
                continue
            token = secrets.token_hex(16)
            rows = await webhook_store.claim(
                conn,
                endpoint_id=lane.endpoint_id,
                limit=lane.free,
                now=now,
                lease_until=now + self.lease,
                token=token,
            )
            lane.maybe_more = len(rows) == lane.free
            if rows:
                claims.append((lane, token, rows))
        return claims

    # -- one attempt ------------------------------------------------------------------------------
    async def _attempt(
        self, session: aiohttp.ClientSession, lane: Lane, row: DeliveryRow, token: str
    ) -> None:
        attempted_at = self.now()
        try:
            result = await post_signed(
                session,
                lane.url,
                message_id=str(row.event_id),
                secrets=lane.secrets,
                body=row.body.encode(),
                timestamp=int(attempted_at.timestamp()),
                timeout_seconds=self.delivery.timeout_seconds,
            )
        except asyncio.CancelledError:
            lane.in_flight -= 1
            raise
        except Exception as exc:  # a bug must cost this attempt, never the dispatcher or other events
            log.exception("webhook attempt raised", endpoint=lane.name, delivery_id=row.id)
            result = AttemptResult(None, f"internal error: {type(exc).__name__}", None, 0.0)
        lane.in_flight -= 1
        self._finished.append(Finished(lane, row, token, attempted_at, result))
        self._wakeup.set()

    def _settlement(self, item: Finished) -> Settlement:
        """The delivery's next state after this attempt (see watcher/webhook_policy.py)."""
        now = self.now()
        result = item.result
        changes: dict[str, Any] = {
            "last_attempt_at": item.attempted_at,
            "last_status_code": result.status,
            "last_error": result.error,
            "updated_at": now,
        }
        final = {"status": "failed", "next_attempt_at": None}
        verdict = verdict_for(result.status)
        if verdict == "delivered":
            changes.update(status="delivered", delivered_at=now, next_attempt_at=None)
            return Settlement(item, "delivered", changes)
        if verdict == "gone":
            return Settlement(item, "disabled", {**changes, **final})
        if verdict == "failed":
            return Settlement(item, "failed", {**changes, **final})
        if item.lane.disabled:  # disabled (410) while this attempt was in flight
            return Settlement(
                item, "disabled", {**changes, **final, "last_error": f"{result.error}; endpoint disabled"}
            )
        plan = self.schedule.next_attempt(
            failures=item.row.step,
            now=now,
            give_up_at=item.row.give_up_at,
            retry_after=retry_after_seconds(result.retry_after, now),
        )
        if isinstance(plan, GiveUp):
            error = f"{result.error}; gave up after {item.row.attempts} attempts ({plan.reason})"
            return Settlement(item, "expired", {**changes, **final, "last_error": error})
        return Settlement(item, "retry", {**changes, "next_attempt_at": plan.at})

    async def _record(self, conn: AsyncConnection, settlements: list[Settlement]) -> list[tuple[bool, int]]:
        """Write each attempt and, under its lease, the delivery's new state; a 410 disables the endpoint.

        The endpoint is disabled after every attempt of this round is settled, so that the disable
        fails whatever the endpoint still has pending (other than attempts in flight).
        """
        kept = await webhook_store.settle(
            conn,
            [
                webhook_store.Outcome(s.finished.row.id, s.finished.token, s.attempt(), s.changes)
                for s in settlements
            ],
        )
        failed_others: dict[str, int] = {}
        for settlement in settlements:
            lane = settlement.finished.lane
            if settlement.gone and not lane.disabled and lane.name not in failed_others:
                failed_others[lane.name] = await webhook_store.disable_endpoint(
                    conn, lane.endpoint_id, GONE_REASON, self.now()
                )
        return [(s.finished.row.id in kept, failed_others.get(s.finished.lane.name, 0)) for s in settlements]

    def _after_commit(self, settlements: list[Settlement], recorded: list[tuple[bool, int]]) -> None:
        """Lane state, metrics and one log line per attempt, once the round is committed."""
        for settlement, (kept, failed_others) in zip(settlements, recorded, strict=True):
            self._observe(settlement, kept)
            lane = settlement.finished.lane
            if settlement.gone and not lane.disabled:
                lane.disabled = True
                metrics.WEBHOOK_ENDPOINT_DISABLED.labels(lane.name).set(1)
                log.error(
                    f"webhook endpoint disabled: {GONE_REASON}",
                    endpoint=lane.name,
                    delivery_id=settlement.finished.row.id,
                    pending_deliveries_failed=failed_others,
                )
        self.settled += len(settlements)
        for condition, future in self._waiters:
            if not future.done() and condition():
                future.set_result(None)

    def _observe(self, settlement: Settlement, kept: bool) -> None:
        item = settlement.finished
        lane, row, result = item.lane, item.row, item.result
        metrics.WEBHOOK_ATTEMPTS.labels(lane.name, result_class(result)).inc()
        fields: dict[str, Any] = {
            "endpoint": lane.name,
            "delivery_id": row.id,
            "event_id": row.event_id,
            "event_type": row.event_type,
            "attempt": row.attempts,
            "status_code": result.status,
            "duration_ms": round(result.duration * 1000),
        }
        if not kept:
            log.warning("webhook attempt recorded, but its lease was lost", error=result.error, **fields)
            return
        if settlement.outcome == "delivered":
            lane.delivered += 1
            metrics.WEBHOOK_DELIVERIES.labels(lane.name, "delivered").inc()
            latency = (settlement.changes["delivered_at"] - row.created_at).total_seconds()
            metrics.WEBHOOK_LATENCY.observe(max(0.0, latency))
            log.info("webhook delivered", **fields)
        elif settlement.outcome == "retry":
            log.warning(
                "webhook attempt failed; will retry",
                error=result.error,
                next_attempt_at=settlement.changes["next_attempt_at"].isoformat(),
                **fields,
            )
        else:
            metrics.WEBHOOK_DELIVERIES.labels(lane.name, settlement.outcome).inc()
            log.error(
                "webhook delivery failed",
                outcome=settlement.outcome,
                error=settlement.changes["last_error"],
                **fields,
            )

    # -- shutdown ---------------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        """Cancel attempts in flight, record those already over, hand the other leases back."""
        unfinished = set(self._attempts.values())
        await cancel_all(list(self._attempts))
        finished, self._finished = self._finished, []
        with contextlib.suppress(SQLAlchemyError, OSError, TimeoutError):
            async with asyncio.timeout(5):
                settlements = [self._settlement(item) for item in finished]
                async with self.db.write() as conn:
                    recorded = await self._record(conn, settlements)
                    await webhook_store.release(conn, unfinished, self.now())
                self._after_commit(settlements, recorded)
