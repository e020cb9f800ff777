"""The dispatcher against real receivers on loopback, on both backends: retries on the schedule,
final answers, 410, Retry-After, no head-of-line blocking, leases, metrics."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from shared.clock import utcnow
from shared.config import Settings
from shared.metrics import REGISTRY
from shared.store import webhooks as webhook_store
from shared.store.engine import Database
from tests.conftest import make_settings
from tests.webhook_support import (
    FAST,
    HANG,
    SECRET,
    Received,
    Receiver,
    attempts_of,
    closed_port,
    deliveries,
    dispatching,
    emit_events,
    endpoint,
    endpoint_ids,
    receiving,
    with_webhooks,
)
from watcher.webhook_sender import post_signed

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as running:
        yield running


def settings_for(db_url: str, *endpoints: dict[str, Any], **delivery: Any) -> Settings:
    return with_webhooks(make_settings(db_url, [ACCOUNT]), endpoints, {**FAST, **delivery})


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def ids_of(requests: list[Received]) -> list[str]:
    return [r.webhook_id for r in requests]


async def test_retried_on_the_schedule_until_delivered_exactly_once(
    db: Database, db_url: str, receiver: Receiver
) -> None:
    receiver.script("orders", [500, 500, 503, 200])
    settings = settings_for(db_url, endpoint("orders", receiver.url("orders")))
    schedule, jitter, poll = (
        FAST["retry_schedule_seconds"],
        FAST["retry_jitter"],
        FAST["poll_interval_seconds"],
    )
    delivered_before = metric("paywatch_webhook_deliveries_total", endpoint="orders", outcome="delivered")
    with capture_logs() as logs:
        async with dispatching(db, settings) as dispatcher:
            (event_id,) = await emit_events(db, settings, 1)
            requests = await receiver.wait_count("orders", 4)
            await dispatcher.until_settled(4)
            # A later event is delivered after it: the first is not sent again meanwhile.
            (later,) = await emit_events(db, settings, 1)
            await receiver.wait_for(lambda got: str(later) in ids_of(got), what="the later event")
            await dispatcher.until_settled(5)
    assert ids_of(receiver.to("orders")) == [str(event_id)] * 4 + [str(later)]
    assert len({r.body for r in requests}) == 1  # the same bytes every time
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    for gap, delay in zip(gaps, [schedule[0], schedule[1], schedule[2]], strict=True):
        assert delay * (1 - jitter) - 0.02 <= gap <= delay + poll + 0.5, (gaps, schedule)

    (row,) = await deliveries(db, event_id=event_id)
    assert (row.status, row.attempts, row.last_status_code, row.next_attempt_at) == (
        "delivered",
        4,
        200,
        None,
    )
    log = await attempts_of(db, row.id)
    assert [(a.status_code, a.outcome) for a in log] == [
        (500, "retry"),
        (500, "retry"),
        (503, "retry"),
        (200, "delivered"),
    ]
    assert all(a.duration_ms >= 0 for a in log)
    assert (log[0].error or "").startswith("HTTP 500")
    delivered_logs = [e for e in logs if e["event"] == "webhook delivered" and e["event_id"] == event_id]
    assert len(delivered_logs) == 1
    assert delivered_logs[0]["attempt"] == 4
    retry_logs = [
        e for e in logs if e["event"] == "webhook attempt failed; will retry" and e["event_id"] == event_id
    ]
    assert [e["status_code"] for e in retry_logs] == [500, 500, 503]
    assert (
        metric("paywatch_webhook_deliveries_total", endpoint="orders", outcome="delivered")
        == delivered_before + 2
    )


async def test_other_4xx_is_final_and_a_poisoned_event_holds_back_nothing(
    db: Database, db_url: str, receiver: Receiver
) -> None:
    poisoned: set[str] = set()
    refused: set[str] = set()
    receiver.script(
        "shop", lambda r: 500 if r.webhook_id in poisoned else 400 if r.webhook_id in refused else 200
    )
    settings = settings_for(db_url, endpoint("shop", receiver.url("shop"), max_in_flight=1))
    failed_before = metric("paywatch_webhook_deliveries_total", endpoint="shop", outcome="failed")
    async with dispatching(db, settings):
        first, second, *rest = await emit_events(db, settings, 8)
        poisoned.add(str(first))
        refused.add(str(second))
        # One slot only: the event that always fails and the refused one still let the others through.
        await receiver.wait_for(lambda got: set(map(str, rest)) <= set(ids_of(got)), what="the others")
        await receiver.wait_for(
            lambda got: ids_of(got).count(str(first)) >= 3, what="3 tries of the poisoned one"
        )
    assert ids_of(receiver.to("shop")).count(str(second)) == 1
    (refused_row,) = await deliveries(db, event_id=second)
    assert (refused_row.status, refused_row.attempts, refused_row.last_status_code) == ("failed", 1, 400)
    (poisoned_row,) = await deliveries(db, event_id=first)
    assert poisoned_row.status == "pending"
    assert {d.status for e in rest for d in await deliveries(db, event_id=e)} == {"delivered"}
    assert metric("paywatch_webhook_deliveries_total", endpoint="shop", outcome="failed") == failed_before + 1


async def test_410_disables_the_endpoint_until_it_is_enabled_again(
    db: Database, db_url: str, receiver: Receiver
) -> None:
    receiver.script("gone", [410])
    settings = settings_for(
        db_url,
        endpoint("gone", receiver.url("gone"), max_in_flight=1),
        endpoint("other", receiver.url("other")),
    )
    before = metric("paywatch_webhook_deliveries_total", endpoint="gone", outcome="disabled")
    with capture_logs() as logs:
        async with dispatching(db, settings) as dispatcher:
            first, *queued = await emit_events(db, settings, 3)
            await receiver.wait_count("gone", 1)
            await receiver.wait_count("other", 3)
            await dispatcher.until_settled(4)
            (after_disable,) = await emit_events(db, settings, 1)
            await receiver.wait_count("other", 4)
            assert metric("paywatch_webhook_endpoint_disabled", endpoint="gone") == 1
            ids = await endpoint_ids(db)
            assert await deliveries(db, event_id=after_disable, endpoint_id=ids["gone"]) == []
            # Its other deliveries failed with it; only one request ever reached it.
            for event_id in queued:
                (row,) = await deliveries(db, event_id=event_id, endpoint_id=ids["gone"])
                assert row.status == "failed"
                assert row.last_error == "endpoint disabled: the receiver answered 410 Gone"
            assert len(receiver.to("gone")) == 1

            # Enabled again by hand (the API does this): new events reach it.
            receiver.script("gone", [200])
            async with db.write() as conn:
                await webhook_store.enable_endpoint(conn, "gone", utcnow())
            await dispatcher.refresh()  # what its next poll does
            assert not dispatcher.lanes["gone"].disabled
            assert metric("paywatch_webhook_endpoint_disabled", endpoint="gone") == 0
            (fresh,) = await emit_events(db, settings, 1)
            await receiver.wait_for(lambda got: str(fresh) in ids_of(receiver.to("gone")), within=10)
    (first_row,) = await deliveries(db, event_id=first, endpoint_id=ids["gone"])
    assert (first_row.status, first_row.last_status_code) == ("failed", 410)
    assert metric("paywatch_webhook_deliveries_total", endpoint="gone", outcome="disabled") == before + 1
    assert any(e["event"] == "webhook endpoint disabled: the receiver answered 410 Gone" for e in logs)
    assert all(e.get("endpoint") != receiver.url("gone") for e in logs)  # names in logs, not URLs


async def test_429_waits_as_long_as_retry_after_says(db: Database, db_url: str, receiver: Receiver) -> None:
    receiver.script("busy", [(429, {"Retry-After": "1"}), 200])
    settings = settings_for(db_url, endpoint("busy", receiver.url("busy")))
    async with dispatching(db, settings) as dispatcher:
        await emit_events(db, settings, 1)
        first, second = await receiver.wait_count("busy", 2)
        await dispatcher.until_settled(2)
    # The schedule alone would have retried after at most 0.2 s.
    assert 1.0 - 0.05 <= second.at - first.at <= 1.0 + 0.6
    (row,) = await deliveries(db)
    assert row.status == "delivered"


async def test_a_hanging_endpoint_does_not_delay_another(
    db: Database, db_url: str, receiver: Receiver
) -> None:
    receiver.script("stuck", [HANG])
    settings = settings_for(
        db_url,
        endpoint("stuck", receiver.url("stuck"), max_in_flight=2),
        endpoint("fine", receiver.url("fine")),
        timeout_seconds=60,
    )
    async with dispatching(db, settings):
        events = await emit_events(db, settings, 6)
        started = time.monotonic()
        await receiver.wait_count("fine", 6, within=5)
        elapsed = time.monotonic() - started
        # The hanging endpoint holds exactly its own slots, nothing more.
        assert len(receiver.to("stuck")) == 2
    assert elapsed < 2, elapsed
    assert sorted(ids_of(receiver.to("fine"))) == sorted(map(str, events))


async def test_a_thousand_events_reach_a_healthy_endpoint_while_another_is_dead(
    db: Database, db_url: str, receiver: Receiver
) -> None:
    dead_url = f"http://127.0.0.1:{closed_port()}/dead"
    settings = settings_for(
        db_url,
        endpoint("healthy", receiver.url("healthy"), max_in_flight=16),
        endpoint("dead", dead_url),
        retry_schedule_seconds=[0.5, 1.0],
    )
    latency_before = metric("paywatch_webhook_delivery_latency_seconds_count")
    delivered_before = metric("paywatch_webhook_deliveries_total", endpoint="healthy", outcome="delivered")
    async with dispatching(db, settings) as dispatcher:
        events = await emit_events(db, settings, 1000)
        healthy_lane = dispatcher.lanes["healthy"]
        async with asyncio.timeout(60):
            await dispatcher.until(lambda: healthy_lane.delivered >= 1000)
        ids = await endpoint_ids(db)
    assert sorted(int(i) for i in ids_of(receiver.to("healthy"))) == events  # each exactly once
    healthy = await deliveries(db, endpoint_id=ids["healthy"])
    assert len(healthy) == 1000
    assert {row.status for row in healthy} == {"delivered"}
    dead = await deliveries(db, endpoint_id=ids["dead"])
    assert {row.status for row in dead} == {"pending"}
    tried = [row for row in dead if row.last_attempt_at is not None]
    assert tried
    assert all("Connect" in (row.last_error or "") for row in tried)
    assert (
        metric("paywatch_webhook_deliveries_total", endpoint="healthy", outcome="delivered")
        == delivered_before + 1000
    )
    assert metric("paywatch_webhook_delivery_latency_seconds_count") >= latency_before + 1000


async def test_backlog_and_latency_metrics(db: Database, db_url: str, receiver: Receiver) -> None:
    dead_url = f"http://127.0.0.1:{closed_port()}/dead"
    settings = settings_for(
        db_url,
        endpoint("live", receiver.url("live")),
        endpoint("down", dead_url),
        retry_schedule_seconds=[5.0],
    )
    latency_before = metric("paywatch_webhook_delivery_latency_seconds_count")
    quick_before = metric("paywatch_webhook_delivery_latency_seconds_bucket", le="5.0")
    attempts_before = metric("paywatch_webhook_attempts_total", endpoint="down", result="error")
    async with dispatching(db, settings) as dispatcher:
        await emit_events(db, settings, 5)
        await receiver.wait_count("live", 5)
        await dispatcher.until_settled(10)
        await dispatcher.refresh()
        assert metric("paywatch_webhook_outbox_backlog", endpoint="live") == 0
        assert metric("paywatch_webhook_outbox_backlog", endpoint="down") == 5
    assert metric("paywatch_webhook_delivery_latency_seconds_count") == latency_before + 5
    assert metric("paywatch_webhook_delivery_latency_seconds_bucket", le="5.0") == quick_before + 5
    assert metric("paywatch_webhook_attempts_total", endpoint="down", result="error") == attempts_before + 5


async def test_a_crashed_claimers_lease_runs_out_and_shutdown_hands_leases_back(
    db: Database, db_url: str, receiver: Receiver
) -> None:
    settings = settings_for(db_url, endpoint("hooks", receiver.url("hooks")))
    async with db.write() as conn:
        (hooks,) = (
            await webhook_store.sync_endpoints(conn, [("hooks", receiver.url("hooks"))], utcnow())
        ).values()
    (event_id,) = await emit_events(db, settings, 1)
    # A claimer takes the delivery and dies without a word.
    now = utcnow()
    async with db.write() as conn:
        await webhook_store.claim(
            conn,
            endpoint_id=hooks.id,
            limit=1,
            now=now,
            lease_until=now + timedelta(seconds=0.5),
            token="x" * 32,
        )
    started = time.monotonic()
    async with dispatching(db, settings) as dispatcher:
        (request,) = await receiver.wait_count("hooks", 1)
        await dispatcher.until_settled(1)
    assert request.at - started >= 0.45  # not before the dead claimer's lease ran out
    assert request.webhook_id == str(event_id)
    (row,) = await deliveries(db)
    assert (row.status, row.attempts) == ("delivered", 2)

    # An attempt cut short by a shutdown is handed back: due at once for the next start.
    receiver.script("hooks", [HANG])
    async with dispatching(db, settings):
        (cut,) = await emit_events(db, settings, 1)
        await receiver.wait_count("hooks", 2)
    (row,) = await deliveries(db, event_id=cut)
    assert (row.status, row.lease_token, row.attempts) == ("pending", None, 1)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at <= utcnow()


async def test_attempt_errors_never_quote_the_endpoint_url() -> None:
    async with aiohttp.ClientSession() as session:
        result = await post_signed(
            session,
            "http://127.0.0.1:99999/hook?token=s3cret",  # an invalid port: aiohttp quotes the URL
            message_id="1",
            secrets=[SECRET],
            body=b"{}",
            timestamp=int(time.time()),
            timeout_seconds=2,
        )
    assert result.status is None
    assert result.error is not None
    assert "s3cret" not in result.error
    assert "<url>" in result.error
