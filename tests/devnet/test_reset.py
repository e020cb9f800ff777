"""Network reset: history and ledger numbers go back to 1 (a testnet reset)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from stellar_sdk import Keypair

from devnet import DevNet, serve
from devnet.client import DevnetClient
from devnet.sse import HELLO

SSE = {"Accept": "text/event-stream"}


async def test_reset_leaves_stored_cursors_ahead(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession
) -> None:
    a, b = Keypair.random(), Keypair.random()
    await client.friendbot(a.public_key)
    await client.friendbot(b.public_key)
    await client.pay(a, b.public_key, "1")
    cursor = (await client.get_json("/payments", order="desc", limit=1))["_embedded"]["records"][0][
        "paging_token"
    ]
    before = net.latest_ledger
    await client.reset()
    assert net.latest_ledger < before
    root = await client.get_json("/")
    assert root["history_elder_ledger"] == 1
    assert root["history_latest_ledger"] < before
    async with session.get(f"{client.horizon_url}/accounts/{a.public_key}") as gone:
        assert gone.status == 404
    await client.friendbot(a.public_key)  # the account can be funded again
    ahead = await client.get_json("/payments", cursor=cursor)
    assert ahead["_embedded"]["records"] == []  # a cursor beyond the latest ledger: empty, no error
    fresh = await client.get_json("/payments")
    assert [r["account"] for r in fresh["_embedded"]["records"]] == [a.public_key]


async def test_streams_survive_a_reset(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession
) -> None:
    async with session.get(
        f"{client.horizon_url}/ledgers", params={"cursor": "now", "limit": "1"}, headers=SSE
    ) as stream:
        assert await stream.content.readuntil(b"\n\n") == HELLO
        await net.reset()
        # The pinned cursor is now ahead of history: ledgers keep closing but none is newer.
        await net.wait_for_ledger(3)
        assert net.latest_ledger >= 3


@pytest.fixture
async def manual_url(net: DevNet) -> AsyncIterator[str]:
    async with serve(net, ledger_timer=False) as url:
        yield url


async def test_reset_drops_queued_submissions(net: DevNet, manual_url: str) -> None:
    async with DevnetClient(manual_url, net.passphrase) as client:
        task = asyncio.create_task(
            client.session.get(f"{manual_url}/friendbot", params={"addr": Keypair.random().public_key})
        )
        await net.wait_for_pending(1)
        await net.reset()
        response = await task
        assert response.status == 503
        body = json.loads(await response.text())
        assert body["type"].endswith("/service_unavailable")
        response.release()
