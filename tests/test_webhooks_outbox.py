"""The webhook outbox in the store, on both backends: written with its event, claimed under leases."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.apply import Details, context_from_settings, emit
from shared.clock import utcnow
from shared.config import ConfigError, Settings, WebhookSettings, load_settings
from shared.outbox import API_VERSION
from shared.store import events as event_store
from shared.store import webhooks as webhook_store
from shared.store.engine import Database
from tests.conftest import make_settings
from tests.webhook_support import SECRET, deliveries, emit_events, endpoint, endpoint_ids, with_webhooks
from watcher.webhook_policy import GiveUp, Retry, RetrySchedule, retry_after_seconds, verdict_for

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"


def settings_with(db_url: str, *endpoints: dict[str, Any]) -> Settings:
    return with_webhooks(make_settings(db_url, [ACCOUNT]), endpoints)


async def sync(db: Database, settings: Settings) -> None:
    async with db.write() as conn:
        await webhook_store.sync_endpoints(conn, [(w.name, w.url) for w in settings.webhooks], utcnow())


async def test_each_event_queues_one_delivery_per_subscribed_endpoint_in_its_transaction(
    db: Database, db_url: str
) -> None:
    settings = settings_with(
        db_url,
        endpoint("all", "http://127.0.0.1:9/all"),
        endpoint("payments", "http://127.0.0.1:9/payments", events=["payment.*"]),
        endpoint("confirmed", "http://127.0.0.1:9/confirmed", events=["payment.confirmed"]),
    )
    await sync(db, settings)
    ctx = context_from_settings(settings)
    async with db.write() as conn:
        unmatched = await emit(
            conn, "receipt.unmatched", payment=None, details=Details(), receipt=None, ctx=ctx
        )
    ids = await endpoint_ids(db)
    (row,) = await deliveries(db, event_id=unmatched)
    assert (row.endpoint_id, row.status, row.attempts, row.event_type) == (
        ids["all"],
        "pending",
        0,
        "receipt.unmatched",
    )
    assert row.next_attempt_at == row.created_at  # due at once
    assert row.give_up_at - row.created_at == timedelta(hours=72)
    async with db.read() as conn:
        (event,) = await event_store.list_events(conn, after_id=unmatched - 1, limit=1)
    # The body is the event object of SPEC §6, versioned, serialised once (minified).
    payload = json.loads(row.body)
    assert payload == {
        "id": event.id,
        "type": "receipt.unmatched",
        "created_at": payload["created_at"],
        "api_version": API_VERSION,
        "payment_id": None,
        "data": json.loads(event.data),
    }
    assert row.body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False)

    # A rolled-back transaction leaves neither the event nor its deliveries.
    async def failing_change() -> None:
        async with db.write() as conn:
            await emit(conn, "payment.confirmed", payment=None, details=Details(), receipt=None, ctx=ctx)
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert len(await deliveries(db)) == 1


async def test_filters_disabled_and_removed_endpoints(db: Database, db_url: str) -> None:
    a = endpoint("a", "http://127.0.0.1:9/a", events=["payment.confirmed", "receipt.*"])
    b = endpoint("b", "http://127.0.0.1:9/b")
    settings = settings_with(db_url, a, b)
    await sync(db, settings)
    ctx = context_from_settings(settings)
    async with db.write() as conn:
        first = await emit(conn, "payment.confirmed", payment=None, details=Details(), receipt=None, ctx=ctx)
        initiated = await emit(
            conn, "payment.initiated", payment=None, details=Details(), receipt=None, ctx=ctx
        )
    ids = await endpoint_ids(db)
    assert {d.endpoint_id for d in await deliveries(db, event_id=first)} == {ids["a"], ids["b"]}
    assert {d.endpoint_id for d in await deliveries(db, event_id=initiated)} == {ids["b"]}

    # Disabled (410): its pending deliveries fail, and new events queue nothing for it.
    async with db.write() as conn:
        failed = await webhook_store.disable_endpoint(
            conn, ids["b"], "the receiver answered 410 Gone", utcnow()
        )
    assert failed == 2
    assert {d.status for d in await deliveries(db, endpoint_id=ids["b"])} == {"failed"}
    async with db.write() as conn:
        later = await emit(conn, "payment.confirmed", payment=None, details=Details(), receipt=None, ctx=ctx)
    assert {d.endpoint_id for d in await deliveries(db, event_id=later)} == {ids["a"]}

    # Removed from the configuration: marked removed, its pending deliveries fail (nothing can sign them).
    await sync(db, settings_with(db_url, b))
    async with db.read() as conn:
        known = {row.name: row for row in await webhook_store.list_endpoints(conn)}
    assert known["a"].removed_at is not None
    assert {(d.status, d.last_error) for d in await deliveries(db, endpoint_id=ids["a"])} == {
        ("failed", webhook_store.REMOVED_ERROR)
    }
    # Back in the configuration with a new URL: active again, and a 410-disabled name with a new URL too.
    moved = endpoint("b", "http://127.0.0.1:9/b-moved")
    await sync(db, settings_with(db_url, a, moved))
    async with db.read() as conn:
        known = {row.name: row for row in await webhook_store.list_endpoints(conn)}
    assert known["a"].active
    assert known["b"].active
    assert known["b"].url == "http://127.0.0.1:9/b-moved"


async def test_the_api_adds_endpoints_but_never_changes_them(db: Database) -> None:
    async with db.write() as conn:
        await webhook_store.ensure_endpoints(conn, [("x", "http://127.0.0.1:9/x")], utcnow())
        await webhook_store.ensure_endpoints(
            conn, [("x", "http://127.0.0.1:9/other"), ("y", "http://h/y")], utcnow()
        )
    async with db.read() as conn:
        rows = {row.name: row.url for row in await webhook_store.list_endpoints(conn)}
    assert rows == {"x": "http://127.0.0.1:9/x", "y": "http://h/y"}


async def test_concurrent_claimers_never_share_a_delivery_and_leases_expire(db_url: str) -> None:
    settings = settings_with(db_url, endpoint("e", "http://127.0.0.1:9/e"))
    first, second = Database.open(db_url), Database.open(db_url)
    try:
        await sync(first, settings)
        await emit_events(first, settings, 60)
        (endpoint_id,) = (await endpoint_ids(first)).values()
        now = utcnow()

        async def claim_all(db: Database, token: str) -> list[int]:
            got: list[int] = []
            while True:
                async with db.write() as conn:
                    rows = await webhook_store.claim(
                        conn,
                        endpoint_id=endpoint_id,
                        limit=7,
                        now=now,
                        lease_until=now + timedelta(minutes=1),
                        token=token,
                    )
                if not rows:
                    return got
                got += [row.id for row in rows]
                await asyncio.sleep(0)

        a, b = await asyncio.gather(claim_all(first, "a" * 32), claim_all(second, "b" * 32))
        assert len(a) + len(b) == 60
        assert not set(a) & set(b)
        # Nothing is due while the leases run; once they have run out, everything is due again.
        async with first.write() as conn:
            assert (
                await webhook_store.claim(
                    conn,
                    endpoint_id=endpoint_id,
                    limit=100,
                    now=now + timedelta(seconds=59),
                    lease_until=now,
                    token="c" * 32,
                )
                == []
            )
            again = await webhook_store.claim(
                conn,
                endpoint_id=endpoint_id,
                limit=100,
                now=now + timedelta(minutes=1),
                lease_until=now + timedelta(minutes=2),
                token="d" * 32,
            )
        assert len(again) == 60
        assert {row.attempts for row in again} == {2}
        # The first claimers' results are refused: their leases were taken over.
        async with first.write() as conn:
            kept = await webhook_store.settle(
                conn,
                [
                    webhook_store.Outcome(
                        a[0],
                        "a" * 32,
                        {
                            "attempted_at": now,
                            "duration_ms": 1,
                            "status_code": 200,
                            "error": None,
                            "outcome": "delivered",
                        },
                        {"status": "delivered"},
                    )
                ],
            )
        assert not kept
    finally:
        await first.close()
        await second.close()


# --- pure rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (None, "retry"),
        (500, "retry"),
        (503, "retry"),
        (408, "retry"),
        (429, "retry"),
        (301, "retry"),
        (400, "failed"),
        (401, "failed"),
        (404, "failed"),
        (422, "failed"),
        (410, "gone"),
    ],
)
def test_status_codes(status: int | None, verdict: str) -> None:
    assert verdict_for(status) == verdict


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("30", now) == 30
    assert retry_after_seconds("Thu, 26 Nov 2026 12:01:30 GMT", now) == 90
    assert retry_after_seconds("Thu, 26 Nov 2026 11:00:00 GMT", now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_schedule_backs_off_with_jitter_and_stops_at_the_window() -> None:
    schedule = RetrySchedule([5, 30, 120], jitter=0.2, rng=random.Random(1))
    now = datetime(2026, 11, 26, tzinfo=UTC)
    far = now + timedelta(days=3)
    for failures, base in [(1, 5), (2, 30), (3, 120), (9, 120)]:
        for _ in range(50):
            plan = schedule.next_attempt(failures=failures, now=now, give_up_at=far)
            assert isinstance(plan, Retry)
            assert base * 0.8 <= (plan.at - now).total_seconds() <= base
    # Never past the window: the last attempt is at give_up_at; after it, give up.
    soon = now + timedelta(seconds=10)
    assert schedule.next_attempt(failures=3, now=now, give_up_at=soon) == Retry(soon)
    assert isinstance(schedule.next_attempt(failures=3, now=soon, give_up_at=soon), GiveUp)
    # Retry-After replaces the delay, however long; past the window it gives up.
    assert schedule.next_attempt(failures=1, now=now, give_up_at=far, retry_after=60) == Retry(
        now + timedelta(seconds=60)
    )
    assert schedule.next_attempt(failures=1, now=now, give_up_at=far, retry_after=7200) == Retry(
        now + timedelta(seconds=7200)
    )
    assert isinstance(schedule.next_attempt(failures=1, now=now, give_up_at=soon, retry_after=60), GiveUp)


def test_default_schedule_retries_for_three_days() -> None:
    settings = make_settings("sqlite:///unused.db", [ACCOUNT])
    delivery = settings.webhook_delivery
    assert delivery.retry_for_hours == 72
    assert delivery.retry_schedule_seconds[0] == 5
    assert sum(delivery.retry_schedule_seconds) < 72 * 3600  # the last delay repeats until the window ends


def test_webhook_config_names_secrets_and_patterns() -> None:
    named = WebhookSettings(
        url="https://orders.example/h?token=abc", secret=SECRET, previous_secrets=[SECRET]
    )
    assert named.name.startswith("webhook-")
    assert "orders" not in named.name  # a label for metrics: never the URL
    assert named.signing_secrets == [SECRET, SECRET]
    assert SECRET not in repr(named)
    for bad in (
        {"events": ["pay.*"]},
        {"events": []},
        {"name": "Orders Service"},
        {"previous_secrets": ["plain"]},
        {"max_in_flight": 0},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError is a ValueError
            WebhookSettings(url="https://h/x", secret=SECRET, **bad)  # type: ignore[arg-type]


def test_two_endpoints_with_the_same_name_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "paywatch.toml"
    path.write_text(
        f"""
[[accounts]]
address = "{ACCOUNT}"
[[webhooks]]
url = "https://a.example/x"
secret = "{SECRET}"
[[webhooks]]
url = "https://a.example/x"
secret = "{SECRET}"
"""
    )
    with pytest.raises(ConfigError, match="webhooks: two endpoints are named"):
        load_settings(path, environ={})
