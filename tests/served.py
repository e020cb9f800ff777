"""Real servers on a background event loop, for synchronous tests (schemathesis, hypothesis).

`served_api` runs a devnet (so verify/refund/inbound reach a real Horizon) and the aiohttp
application on a real socket on 127.0.0.1; the test talks to it over HTTP like any client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from stellar_sdk import IdMemo, Keypair, Memo

from api.app import create_app
from devnet.client import DevnetClient
from paywatch.keys import create_key
from shared.store.engine import Database
from tests.conftest import make_settings
from tests.support import devnet_network

T = TypeVar("T")
INBOUND_SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtaW5ib3VuZC13ZWJob29r"  # base64 of a test key


@dataclass
class ServedApi:
    base_url: str
    admin_key: str
    read_key: str  # payments:read only: 403 on everything else
    merchant: str
    db: Database
    # Values that exist in this deployment, by field name (currency, payment_id, transaction_hash, …)
    known: dict[str, list[str]] = field(default_factory=dict)


async def seed(api: ServedApi, client: DevnetClient, buyer: Keypair) -> None:
    """A few payments and real transactions to them, so fuzzed requests can name things that exist."""
    headers = {"Authorization": f"Bearer {api.admin_key}"}
    known: dict[str, list[str]] = {
        "currency": ["XLM", "USDC"],
        "destination": [api.merchant],
        "order_id": [],
        "buyer_id": ["fuzz-buyer"],
        "payment_id": [],
        "transaction_hash": [],
    }
    async with aiohttp.ClientSession(api.base_url, headers=headers) as session:
        for order in ("fuzz-1", "fuzz-2", "fuzz-3"):
            body = {"order_id": order, "amount": "10", "currency": "XLM", "buyer_id": "fuzz-buyer"}
            async with session.post("/payments/initiate", json=body) as response:
                assert response.status == 201, await response.text()
                payment = await response.json()
            known["order_id"].append(order)
            known["payment_id"].append(payment["id"])
            paid = await client.pay(buyer, api.merchant, "1", memo=IdMemo(int(payment["reference"])))
            known["transaction_hash"].append(paid.hash)
        unmarked: Memo | None = None  # a payment without a memo: unmatched when verified
        paid = await client.pay(buyer, api.merchant, "2", memo=unmarked)
        known["transaction_hash"].append(paid.hash)
    api.known = known


class BackgroundLoop:
    """An event loop on a thread of its own: async fixtures for synchronous (hypothesis) tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def enter(self, context: AbstractAsyncContextManager[T], stack: ExitStack) -> T:
        """Enter an async context manager on the loop; it is exited when `stack` closes."""
        value = self.run(context.__aenter__())
        stack.callback(lambda: self.run(context.__aexit__(None, None, None)))
        return value


@contextmanager
def background_loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    background.thread.start()
    try:
        yield background
    finally:
        background.loop.call_soon_threadsafe(background.loop.stop)
        background.thread.join(30)
        assert not background.thread.is_alive(), "the test loop did not stop"
        background.loop.close()


@asynccontextmanager
async def _running_api(db_url: str, sections: dict[str, dict[str, Any]]) -> AsyncIterator[ServedApi]:
    async with devnet_network() as network:
        merchant_keys, buyer = await asyncio.gather(network.funded(), network.funded())
        merchant = merchant_keys.public_key
        settings = make_settings(
            db_url,
            [merchant],
            horizon_url=network.url,
            passphrase=network.net.passphrase,
            inbound_webhook={"secret": INBOUND_SECRET},
            **sections,
        )
        db = Database.open(db_url)
        runner = web.AppRunner(create_app(settings, db), access_log=None)
        try:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            api = ServedApi(
                base_url=f"http://{host}:{port}",
                admin_key=await create_key(db, "fuzz-admin", ("admin",)),
                read_key=await create_key(db, "fuzz-read", ("payments:read",)),
                merchant=merchant,
                db=db,
            )
            await seed(api, network.client, buyer)
            yield api
        finally:
            await runner.cleanup()
            await db.close()


@contextmanager
def served_api(db_url: str, **sections: dict[str, Any]) -> Iterator[ServedApi]:
    """The API and a devnet on a background loop; everything is stopped when the block ends."""
    with background_loop() as background, ExitStack() as stack:
        yield background.enter(_running_api(db_url, sections), stack)
