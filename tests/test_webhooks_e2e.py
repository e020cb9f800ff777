"""Webhooks end to end on the devnet, on both backends: a real signed payment, the running watcher
(its dispatcher), the API, and a receiver on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from stellar_sdk import IdMemo, Keypair

from api.app import create_app
from shared.config import Settings
from shared.store import events as event_store
from shared.store import webhooks as webhook_store
from shared.store.engine import Database
from tests.conftest import make_settings, new_api_key
from tests.support import Network, devnet_network, initiate, running_watcher
from tests.webhook_support import (
    FAST,
    OLD_SECRET,
    SECRET,
    Receiver,
    closed_port,
    deliveries,
    endpoint,
    independent_signatures,
    receiving,
    with_webhooks,
)


@dataclass
class Chain:
    network: Network
    db: Database
    merchant: Keypair
    buyer: Keypair
    key: str
    settings: Settings  # without webhooks


async def backlog(db: Database) -> int:
    async with db.read() as conn:
        return sum((await webhook_store.backlog(conn)).values())


@pytest.fixture
async def chain(db: Database, db_url: str) -> AsyncIterator[Chain]:
    async with devnet_network() as network:
        merchant, buyer = await asyncio.gather(network.funded(), network.funded())
        settings = make_settings(
            db_url, [merchant.public_key], horizon_url=network.url, passphrase=network.net.passphrase
        )
        yield Chain(network, db, merchant, buyer, await new_api_key(db), settings)


async def test_a_confirmed_payment_arrives_signed(chain: Chain, aiohttp_client: Any) -> None:
    async with receiving() as receiver:
        settings = with_webhooks(
            chain.settings,
            [
                endpoint(
                    "orders",
                    receiver.url("orders"),
                    events=["payment.confirmed"],
                    previous_secrets=[OLD_SECRET],
                )
            ],
        )
        api = await aiohttp_client(create_app(settings, chain.db))
        async with running_watcher(settings, chain.db) as watcher:
            created = await initiate(api, chain.key, order_id="w-1", amount="12.5", currency="XLM")
            paid = await chain.network.client.pay(
                chain.buyer, created["destination"], "12.5", memo=IdMemo(int(created["memo"]))
            )
            assert paid.successful
            (request,) = await receiver.wait_count("orders", 1)
            await watcher.webhooks.until_settled(1)

    # Verified with our own HMAC code: every secret in rotation signed it, a stranger's key did not.
    assert independent_signatures(SECRET, request.headers, request.body)
    assert independent_signatures(OLD_SECRET, request.headers, request.body)
    stranger = "whsec_" + base64.b64encode(b"not the secret of this endpoint!").decode()
    assert not independent_signatures(stranger, request.headers, request.body)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["content-type"] == "application/json"

    async with chain.db.read() as conn:
        events = {e.type: e for e in await event_store.for_payment(conn, created["id"])}
    confirmed = events["payment.confirmed"]
    assert request.webhook_id == str(confirmed.id)
    payload = request.payload
    assert request.body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert (payload["id"], payload["type"], payload["payment_id"]) == (
        confirmed.id,
        "payment.confirmed",
        created["id"],
    )
    assert payload["data"] == json.loads(confirmed.data)
    shown = payload["data"]["payment"]
    assert (shown["status"], shown["amount_received"], shown["stellar_transaction_id"]) == (
        "confirmed",
        "12.5000000",
        paid.hash,
    )
    # Only the subscribed event type was queued for this endpoint.
    (delivery,) = await deliveries(chain.db)
    assert (delivery.event_id, delivery.status, delivery.attempts) == (confirmed.id, "delivered", 1)


async def test_a_delivery_survives_a_restart_while_the_receiver_is_down(
    chain: Chain, aiohttp_client: Any
) -> None:
    port = closed_port()
    settings = with_webhooks(
        chain.settings,
        [endpoint("orders", f"http://127.0.0.1:{port}/orders", events=["payment.*"])],
        {**FAST, "retry_schedule_seconds": [0.1, 0.2, 0.4]},
    )
    api = await aiohttp_client(create_app(settings, chain.db))
    async with running_watcher(settings, chain.db) as watcher:
        created = await initiate(api, chain.key, order_id="d-1", amount="3", currency="XLM")
        await watcher.webhooks.until_settled(2)  # refused twice
    (row,) = await deliveries(chain.db)
    assert (row.status, row.delivered_at) == ("pending", None)
    assert row.attempts >= 2
    assert "Connect" in (row.last_error or "")
    assert await backlog(chain.db) == 1

    receiver = Receiver()
    await receiver.start(port)  # the receiver is back, on the same address
    try:
        async with running_watcher(settings, chain.db) as watcher:
            (request,) = await receiver.wait_count("orders", 1)
            await watcher.webhooks.until_settled(1)
    finally:
        await receiver.stop()
    assert request.webhook_id == str(row.event_id)
    assert request.payload["data"]["payment"]["id"] == created["id"]
    (row,) = await deliveries(chain.db)
    assert row.status == "delivered"
    assert await backlog(chain.db) == 0
