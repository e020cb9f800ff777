"""The webhook dispatcher: delivers the outbox, inside the watcher process.

One lane per configured endpoint, each with at most `max_in_flight` attempts at a time. A lane
claims (leases) only as many due deliveries as it has free slots, so a hanging or dead endpoint
holds nothing but its own slots: other endpoints claim and deliver as if it were not there. Within
a lane deliveries are independent — a failing event is rescheduled and never holds back later ones
(no ordering is promised; receivers dedupe on `webhook-id` and re-fetch state).

Each attempt's result (and the delivery's new state) is written in one transaction under the
lease that claimed it; a claimer that dies leaves its lease to expire, and the delivery is due again.
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

from shared import metrics
from shared.clock import utcnow
from shared.config import Settings, WebhookSettings
from shared.outbox import configured_endpoints
from shared.store import webhooks as webhook_store
from shared.store.engine import Database
from shared.store.webhooks import DeliveryRow
from watcher.backoff import Backoff
from watcher.webhook_policy import GiveUp, RetrySchedule, retry_after_seconds, verdict_for
from watcher.webhook_sender import AttemptResult, post_signed

log = structlog.get_logger("paywatch.watcher.webhooks")

LEASE_MARGIN_SECONDS = 60.0  # beyond the request timeout: time to write the result
SETTLE_TRIES = 5


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

    @property
    def free(self) -> int:
        return 0 if self.disabled else self.max_in_flight - self.in_flight


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
        self._wakeup = asyncio.Event()
        self._claim_every_lane = True
        self._attempts: dict[asyncio.Task[None], str] = {}  # attempt task → its lease token
        self.settled = 0  # attempts whose outcome was handled (written, or given up writing)
        self._progress = asyncio.Condition()

    @property
    def has_endpoints(self) -> bool:
        return bool(self.settings.webhooks)

    async def prepare(self) -> None:
        """Sync the endpoint table with the configuration (before any event can be emitted)."""
        async with self.db.write() as conn:
            rows = await webhook_store.sync_endpoints(conn, configured_endpoints(self.settings), self.now())
        configured: dict[str, WebhookSettings] = {w.name: w for w in self.settings.webhooks}
        self.lanes = {
            name: Lane(
                endpoint_id=rows[name].id,
                name=name,
                url=webhook.url,
                secrets=webhook.signing_secrets,
                max_in_flight=webhook.max_in_flight,
                disabled=not rows[name].active,
            )
            for name, webhook in configured.items()
        }
        for lane in self.lanes.values():
            metrics.WEBHOOK_ENDPOINT_DISABLED.labels(lane.name).set(1 if lane.disabled else 0)
            if lane.disabled:
                log.warning("webhook endpoint is disabled", endpoint=lane.name)

    def wake(self) -> None:
        """Look for due deliveries of every endpoint now (new events, a redelivery)."""
        self._claim_every_lane = True
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver until cancelled; attempts cut short by cancellation are handed back at once."""
        poll = self.delivery.poll_interval_seconds
        backoff = Backoff(base=poll, cap=30)
        connector = aiohttp.TCPConnector(limit=0)  # concurrency is bounded per endpoint, by the lanes
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                next_refresh = 0.0
                while True:
                    self._wakeup.clear()
                    every_lane, self._claim_every_lane = self._claim_every_lane, False
                    try:
                        if time.monotonic() >= next_refresh:
                            await self._refresh()
                            next_refresh = time.monotonic() + poll
                        await self._claim(session, every_lane=every_lane)
                        backoff.reset()
                        wait = poll
                    except (SQLAlchemyError, OSError) as exc:
                        log.error("webhook dispatcher cannot read the outbox", error=str(exc)[:300])
                        self._claim_every_lane = True
                        wait = backoff.next_delay()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
                    except TimeoutError:
                        self._claim_every_lane = True  # a poll: retries and other processes' events
            finally:
                await self._stop_attempts()

    # -- claiming ---------------------------------------------------------------------------------
    async def _claim(self, session: aiohttp.ClientSession, *, every_lane: bool) -> None:
        """Claim due deliveries for lanes with free slots (after a poll: all; else those with more due)."""
        for lane in self.lanes.values():
            if lane.free <= 0 or not (every_lane or lane.maybe_more):
                continue
            now = self.now()
            token = secrets.token_hex(16)
            async with self.db.write() as conn:
                claimed = await webhook_store.claim(
                    conn,
                    endpoint_id=lane.endpoint_id,
                    limit=lane.free,
                    now=now,
                    lease_until=now + self.lease,
                    token=token,
                )
            lane.maybe_more = len(claimed) == lane.free
            for row in claimed:
                lane.in_flight += 1
                task = asyncio.create_task(self._attempt(session, lane, row, token))
                self._attempts[task] = token
                task.add_done_callback(self._attempt_done)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._attempts.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook attempt task failed", error=repr(task.exception()))

    async def _refresh(self) -> None:
        """Endpoint states (enabled again by hand?) and the backlog gauge, from the store."""
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

    # -- one attempt ------------------------------------------------------------------------------
    async def _attempt(
        self, session: aiohttp.ClientSession, lane: Lane, row: DeliveryRow, token: str
    ) -> None:
        try:
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
            except Exception as exc:  # a bug must cost this attempt, never the dispatcher or other events
                log.exception("webhook attempt raised", endpoint=lane.name, delivery_id=row.id)
                result = AttemptResult(None, f"internal error: {type(exc).__name__}", None, 0.0)
            await self._settle(lane, row, token, attempted_at, result)
        finally:
            lane.in_flight -= 1
            self._wakeup.set()

    async def _settle(
        self, lane: Lane, row: DeliveryRow, token: str, attempted_at: datetime, result: AttemptResult
    ) -> None:
        now = self.now()
        verdict = verdict_for(result.status)
        error = result.error
        outcome: str  # the delivery's final outcome, or "retry"
        changes: dict[str, Any] = {
            "last_attempt_at": attempted_at,
            "last_status_code": result.status,
            "last_error": error,
            "updated_at": now,
        }
        if verdict == "delivered":
            outcome = "delivered"
            changes.update(status="delivered", delivered_at=now, next_attempt_at=None)
        elif verdict == "gone":
            outcome = "disabled"
            changes.update(status="failed", next_attempt_at=None)
        elif verdict == "failed":
            outcome = "failed"
            changes.update(status="failed", next_attempt_at=None)
        elif lane.disabled:
            outcome = "disabled"
            changes.update(status="failed", next_attempt_at=None, last_error=f"{error}; endpoint disabled")
        else:
            plan = self.schedule.next_attempt(
                failures=row.step,
                now=now,
                give_up_at=row.give_up_at,
                retry_after=retry_after_seconds(result.retry_after, now),
            )
            if isinstance(plan, GiveUp):
                outcome = "expired"
                changes.update(
                    status="failed",
                    next_attempt_at=None,
                    last_error=f"{error}; gave up after {row.attempts} attempts ({plan.reason})",
                )
            else:
                outcome = "retry"
                changes["next_attempt_at"] = plan.at
        attempt = {
            "attempted_at": attempted_at,
            "duration_ms": round(result.duration * 1000),
            "status_code": result.status,
            "error": error,
            "outcome": outcome if outcome in ("delivered", "retry") else "failed",
        }
        kept, failed_others = await self._write(lane, row, token, attempt, changes, disable=verdict == "gone")
        self._observe(lane, row, result, attempt, outcome, kept, changes, now)
        if verdict == "gone":
            lane.disabled = True
            metrics.WEBHOOK_ENDPOINT_DISABLED.labels(lane.name).set(1)
            log.error(
                "webhook endpoint disabled: the receiver answered 410 Gone",
                endpoint=lane.name,
                delivery_id=row.id,
                pending_deliveries_failed=failed_others,
            )
        async with self._progress:
            self.settled += 1
            self._progress.notify_all()

    async def until_settled(self, count: int) -> None:
        """Wait until `count` attempts in all have been settled by this dispatcher."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.settled >= count)

    async def _write(
        self,
        lane: Lane,
        row: DeliveryRow,
        token: str,
        attempt: dict[str, Any],
        changes: dict[str, Any],
        *,
        disable: bool,
    ) -> tuple[bool, int]:
        """The attempt and the new state, in one transaction (retried briefly if the store fails)."""
        backoff = Backoff(base=0.2, cap=5)
        for tries in range(1, SETTLE_TRIES + 1):
            try:
                async with self.db.write() as conn:
                    kept = await webhook_store.settle(conn, row.id, token, attempt=attempt, changes=changes)
                    failed_others = 0
                    if disable:
                        failed_others = await webhook_store.disable_endpoint(
                            conn, lane.endpoint_id, "the receiver answered 410 Gone", self.now()
                        )
                return kept, failed_others
            except (SQLAlchemyError, OSError) as exc:
                if tries == SETTLE_TRIES:
                    # The lease runs out and the delivery is attempted again: at least once, never lost.
                    log.error("cannot record a webhook attempt", delivery_id=row.id, error=str(exc)[:300])
                    return False, 0
                await asyncio.sleep(backoff.next_delay())
        return False, 0

    def _observe(
        self,
        lane: Lane,
        row: DeliveryRow,
        result: AttemptResult,
        attempt: dict[str, Any],
        outcome: str,
        kept: bool,
        changes: dict[str, Any],
        now: datetime,
    ) -> None:
        """Metrics and the attempt's log line, after the commit."""
        metrics.WEBHOOK_ATTEMPTS.labels(lane.name, result_class(result)).inc()
        fields: dict[str, Any] = {
            "endpoint": lane.name,
            "delivery_id": row.id,
            "event_id": row.event_id,
            "event_type": row.event_type,
            "attempt": row.attempts,
            "status_code": result.status,
            "duration_ms": attempt["duration_ms"],
        }
        if not kept:
            log.warning("webhook attempt recorded, but its lease was lost", error=result.error, **fields)
            return
        if outcome == "delivered":
            metrics.WEBHOOK_DELIVERIES.labels(lane.name, "delivered").inc()
            metrics.WEBHOOK_LATENCY.observe(max(0.0, (now - row.created_at).total_seconds()))
            log.info("webhook delivered", **fields)
        elif outcome == "retry":
            log.warning(
                "webhook attempt failed; will retry",
                error=result.error,
                next_attempt_at=changes["next_attempt_at"].isoformat(),
                **fields,
            )
        else:
            metrics.WEBHOOK_DELIVERIES.labels(lane.name, outcome).inc()
            log.error("webhook delivery failed", outcome=outcome, error=changes["last_error"], **fields)

    # -- shutdown ---------------------------------------------------------------------------------
    async def _stop_attempts(self) -> None:
        """Cancel attempts in flight and hand their leases back, so the next start sends them at once."""
        tasks = list(self._attempts)
        tokens = set(self._attempts.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not tokens:
            return
        with contextlib.suppress(SQLAlchemyError, OSError, TimeoutError):
            async with asyncio.timeout(5):
                async with self.db.write() as conn:
                    await webhook_store.release(conn, tokens, self.now())
