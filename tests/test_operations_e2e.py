"""The watcher and the API as real processes on the devnet, with a webhook receiver on loopback: after a
payment, both `/metrics` endpoints show the documented series — the webhook ones included — with no
ids, accounts or URLs in them, and `GET /payments/monitor/status` and `paywatch status` show the
same state."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.store import events as event_store
from shared.store import status as status_store
from shared.store.engine import Database
from tests.conftest import make_settings, new_api_key
from tests.ops_support import Daemon, NotifySocket, paywatch_cli, socket_dir
from tests.support import Network, config_toml, devnet_network, eventually, paid_through_api
from tests.webhook_support import Receiver, endpoint, receiving, with_webhooks

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
README = Path(__file__).resolve().parents[1] / "README.md"


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def names(found: Samples) -> set[str]:
    return {name for name, _ in found}


def documented_metrics() -> set[str]:
    """The series README's metrics table promises (histograms by their `_count`)."""
    section = README.read_text().split("### Metrics", 1)[1].split("\n### ", 1)[0]
    result = set()
    for line in section.splitlines():
        if line.startswith("| `paywatch_"):
            name = line.split("`")[1].split("{")[0]
            result.add(name + "_count" if "histogram" in line else name)
    return result


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    async with devnet_network() as net:
        yield net


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as running:
        yield running


@pytest.fixture
def sockets() -> Iterator[tuple[NotifySocket, NotifySocket]]:
    with socket_dir() as directory:
        pair = (NotifySocket(directory / "watcher"), NotifySocket(directory / "api"))
        try:
            yield pair
        finally:
            for sock in pair:
                sock.close()


async def scrape(http: aiohttp.ClientSession, url: str) -> tuple[str, Samples]:
    async with http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return text, samples(text)


async def test_metrics_and_monitor_status_after_a_payment(
    network: Network,
    db: Database,
    db_url: str,
    sockets: tuple[NotifySocket, NotifySocket],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    started = time.time()
    merchant, buyer = await asyncio.gather(network.funded(), network.funded())
    settings = make_settings(
        db_url, [merchant.public_key], horizon_url=network.url, passphrase=network.net.passphrase
    )
    hook_url = receiver.url("orders")
    settings = with_webhooks(settings, [endpoint("orders", hook_url)])  # both processes route events
    config = tmp_path / "paywatch.toml"
    config.write_text(config_toml(settings, db_url) + '[api]\nhost = "127.0.0.1"\nport = 0\n')
    watcher_notify, api_notify = sockets
    watcher = Daemon("watch", config, tmp_path / "watcher.log", {"NOTIFY_SOCKET": str(watcher_notify.path)})
    api = Daemon("api", config, tmp_path / "api.log", {"NOTIFY_SOCKET": str(api_notify.path)})
    watcher.start()
    api.start()
    try:
        (api_ready,) = await api_notify.until(lambda m: "READY" in m)
        api_url = api_ready["STATUS"].removeprefix("listening on ")
        await watcher_notify.until(lambda m: "READY" in m)
        admin = await new_api_key(db)
        reader = await new_api_key(db, ("payments:read",))

        async def metrics_url() -> str | None:
            async with db.read() as conn:
                row = await status_store.get_status(conn)
            url = json.loads(row.details).get("metrics_url") if row and row.details else None
            return url if isinstance(url, str) else None

        watcher_metrics = await eventually(metrics_url, what="the watcher's metrics URL")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as http:
            created = await paid_through_api(
                http, api_url, network, buyer, db, order_id="m-1", amount="3", currency="XLM"
            )
            confirmed_at = time.time()
            async with http.get(f"{api_url}/payments/{created['id']}") as response:
                assert response.status == 200

            async with db.read() as conn:
                events = len(await event_store.list_events(conn, limit=1000))
            await receiver.wait_count("orders", events)  # every event, the API's and the watcher's

            async def settled() -> tuple[str, Samples] | None:
                text, found = await scrape(http, watcher_metrics)
                fresh = (value(found, "paywatch_heartbeat_timestamp_seconds") or 0) > confirmed_at
                delivered = value(
                    found, "paywatch_webhook_deliveries_total", endpoint="orders", outcome="delivered"
                )
                backlog = value(found, "paywatch_webhook_outbox_backlog", endpoint="orders")
                quiet = value(found, "paywatch_pending_payments") == 0 and (delivered, backlog) == (events, 0)
                return (text, found) if fresh and quiet else None

            watcher_text, seen = await eventually(settled, what="the watcher's gauges after the payment")
            api_text, api_seen = await scrape(http, f"{api_url}/metrics")

            # The API counts what it did: requests by route template, the new payment.
            assert (
                value(
                    api_seen,
                    "paywatch_http_request_duration_seconds_count",
                    method="POST",
                    route="/payments/initiate",
                    status="201",
                )
                == 1
            )
            assert (
                value(
                    api_seen,
                    "paywatch_http_request_duration_seconds_count",
                    method="GET",
                    route="/payments/{payment_id}",
                    status="200",
                )
                == 1
            )
            assert (
                value(api_seen, "paywatch_payment_transitions_total", from_status="none", to_status="pending")
                == 1
            )
            assert value(api_seen, "paywatch_events_total", type="payment.initiated") == 1
            # The watcher counts what it committed, and reports the streams' health.
            assert value(seen, "paywatch_receipts_total", disposition="accepted", asset="XLM") == 1
            assert (
                value(
                    seen, "paywatch_payment_transitions_total", from_status="pending", to_status="confirmed"
                )
                == 1
            )
            assert value(seen, "paywatch_events_total", type="payment.confirmed") == 1
            assert value(seen, "paywatch_confirmation_latency_seconds_count") == 1
            assert value(seen, "paywatch_streams", state="connected") == 1
            assert (value(seen, "paywatch_stream_connects_total") or 0) >= 1
            assert (value(seen, "paywatch_stream_records_total") or 0) >= 1
            assert value(seen, "paywatch_stream_errors_total", kind="http") == 0
            assert (value(seen, "paywatch_last_event_timestamp_seconds") or 0) >= int(started)
            assert (value(seen, "paywatch_heartbeat_timestamp_seconds") or 0) >= int(started)
            assert value(seen, "paywatch_watcher_healthy") == 1
            assert 0 <= (value(seen, "paywatch_ledger_lag_seconds") or 0) < 60
            assert "process_resident_memory_bytes" in names(seen)
            # Webhooks: every event delivered on its first attempt, nothing left, the endpoint enabled.
            assert events >= 3  # initiated, funds_received, confirmed (and the merchant's funding)
            assert value(seen, "paywatch_webhook_attempts_total", endpoint="orders", result="2xx") == events
            assert value(seen, "paywatch_webhook_delivery_latency_seconds_count") == events
            assert value(seen, "paywatch_webhook_endpoint_disabled", endpoint="orders") == 0
            # Every series the README documents is exposed by one of the two processes.
            documented = documented_metrics()
            assert len(documented) >= 15
            assert documented - names(seen) - names(api_seen) == set()
            # No payment ids, accounts or references in any label.
            for text in (watcher_text, api_text):
                for secretish in (
                    created["id"],
                    merchant.public_key,
                    buyer.public_key,
                    created["memo"],
                    hook_url,
                ):
                    assert secretish not in text

            assert watcher.terminate() == 0
            async with http.get(f"{api_url}/payments/monitor/status") as response:
                assert response.status == 200
                shown = await response.json()
            async with http.get(
                f"{api_url}/payments/monitor/status", headers={"Authorization": f"Bearer {reader}"}
            ) as response:
                assert response.status == 403
        printed_json = await paywatch_cli("status", "--json", "--config", str(config))
        printed_text = await paywatch_cli("status", "--config", str(config))
        assert api.terminate() == 0
    finally:
        watcher.kill()
        api.kill()
    printed: dict[str, Any] = json.loads(printed_json)
    for data in (shown, printed):  # time-dependent: the age of the last heartbeat
        data["watcher"].pop("heartbeat_age_seconds")
        data["watcher"].pop("heartbeat_stale")
        for instance in data["instances"]:
            instance.pop("heartbeat_age_seconds")
    assert shown == printed
    assert shown["watcher"]["state"] == "stopped"
    assert shown["mode"] == "accounts"
    assert shown["watcher"]["metrics_url"] == watcher_metrics
    (stream,) = shown["streams"]
    assert stream["account"] == merchant.public_key
    assert int(stream["cursor"]) > 0
    assert stream["lag_seconds"] is not None
    assert stream["last_event_at"] is not None
    assert shown["pending_payments"] == 0
    assert shown["payments"] == {"confirmed": 1}
    assert shown["outbox_backlog"] == 0
    assert f"{stream['key']}: " in printed_text
    assert "pending payments: 0" in printed_text
    assert "webhook outbox backlog: 0" in printed_text
