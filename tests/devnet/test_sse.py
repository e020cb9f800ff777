"""Server-sent events, byte for byte as Horizon writes them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from stellar_sdk import Keypair

from devnet import DevNet, gojson, serve
from devnet.client import DevnetClient
from devnet.sse import BYEBYE, HELLO

Funded = Callable[[], Awaitable[Keypair]]
SSE = {"Accept": "text/event-stream"}


def frame(record: dict[str, object]) -> bytes:
    return f"id: {record['paging_token']}\ndata: {gojson.compact(record)}\n\n".encode()


async def read_event(response: aiohttp.ClientResponse) -> bytes:
    return await response.content.readuntil(b"\n\n")


async def test_stream_framing_and_limit(
    client: DevnetClient, session: aiohttp.ClientSession, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    await client.pay(a, b.public_key, "1")
    page = await client.get_json(f"/accounts/{b.public_key}/payments")
    url = f"{client.horizon_url}/accounts/{b.public_key}/payments"
    async with session.get(url, params={"limit": "2"}, headers=SSE) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["Connection"] == "keep-alive"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = await response.read()  # the stream ends by itself after `limit` records
    records = page["_embedded"]["records"]
    assert body == HELLO + frame(records[0]) + frame(records[1]) + BYEBYE


async def test_connection_timeout_ends_with_byebye(net: DevNet, session: aiohttp.ClientSession) -> None:
    async with serve(net, connection_timeout=0.2) as url:
        async with session.get(f"{url}/ledgers", params={"cursor": "now"}, headers=SSE) as response:
            # Ledgers keep closing (each one is a record), so ask for the quiet transactions stream too.
            await response.content.readuntil(b"\n\n")
        async with session.get(f"{url}/transactions", params={"cursor": "now"}, headers=SSE) as response:
            assert await response.read() == HELLO + BYEBYE


async def test_stream_waits_for_new_ledgers(
    client: DevnetClient, session: aiohttp.ClientSession, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    url = f"{client.horizon_url}/accounts/{b.public_key}/payments"
    async with session.get(url, params={"cursor": "now", "limit": "1"}, headers=SSE) as response:
        assert await read_event(response) == HELLO
        result = await client.pay(a, b.public_key, "3")
        event = await read_event(response)
        record = json.loads(event.split(b"\ndata: ", 1)[1])
        assert record["transaction_hash"] == result.hash
        assert event.startswith(f"id: {record['paging_token']}\n".encode())
        assert await response.read() == BYEBYE


async def test_last_event_id_overrides_cursor(
    client: DevnetClient, session: aiohttp.ClientSession, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    await client.pay(a, b.public_key, "1")
    await client.pay(a, b.public_key, "2")
    records = (await client.get_json(f"/accounts/{b.public_key}/payments"))["_embedded"]["records"]
    url = f"{client.horizon_url}/accounts/{b.public_key}/payments"
    headers = {**SSE, "Last-Event-ID": records[0]["paging_token"]}
    async with session.get(url, params={"cursor": "0", "limit": "2"}, headers=headers) as response:
        assert await response.read() == HELLO + frame(records[1]) + frame(records[2]) + BYEBYE


async def test_join_transactions_in_stream(
    client: DevnetClient, session: aiohttp.ClientSession, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    result = await client.pay(a, b.public_key, "4")
    op_page = await client.get_json(f"/transactions/{result.hash}/payments", join="transactions")
    record = op_page["_embedded"]["records"][0]
    url = f"{client.horizon_url}/accounts/{b.public_key}/payments"
    cursor = str(int(record["paging_token"]) - 1)
    async with session.get(
        url, params={"cursor": cursor, "limit": "1", "join": "transactions"}, headers=SSE
    ) as r:
        body = await r.read()
    assert body == HELLO + frame(record) + BYEBYE
    assert record["transaction"]["hash"] == result.hash


async def test_stream_errors_before_start_are_problems(horizon: str, session: aiohttp.ClientSession) -> None:
    stranger = Keypair.random().public_key
    async with session.get(f"{horizon}/accounts/{stranger}/payments", headers=SSE) as response:
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    async with session.get(f"{horizon}/payments", params={"limit": "500"}, headers=SSE) as response:
        assert response.status == 400
        assert (await response.json(content_type=None))["extras"]["invalid_field"] == "limit"


@pytest.fixture
async def manual(net: DevNet) -> AsyncIterator[str]:
    async with serve(net, ledger_timer=False, connection_timeout=10.0) as url:
        yield url


async def test_cursor_now_is_resolved_once(net: DevNet, manual: str, session: aiohttp.ClientSession) -> None:
    """`now` pins the ledger at connect: later ledgers are streamed, not skipped."""
    async with session.get(
        f"{manual}/ledgers", params={"cursor": "now", "limit": "2"}, headers=SSE
    ) as response:
        assert await read_event(response) == HELLO
        first = await net.close_ledger()
        second = await net.close_ledger()
        body = await response.read()
    sequences = [
        json.loads(line[6:])["sequence"] for line in body.split(b"\n") if line.startswith(b"data: {")
    ]
    assert sequences == [first, second]
    assert body.endswith(BYEBYE)


async def test_submission_waits_for_manual_close(net: DevNet, manual: str) -> None:
    async with DevnetClient(manual, net.passphrase) as client:
        kp = Keypair.random()
        task = asyncio.create_task(client.friendbot(kp.public_key))
        await net.wait_for_pending(1)
        assert not task.done()
        sequence = await net.close_ledger()
        record = await task
        assert record["ledger"] == sequence


async def test_streams_keep_working_after_the_timer_stops(
    net: DevNet, horizon: str, session: aiohttp.ClientSession
) -> None:
    await net.stop()  # from here on ledgers close only when asked
    async with session.get(
        f"{horizon}/ledgers", params={"cursor": "now", "limit": "1"}, headers=SSE
    ) as response:
        assert await read_event(response) == HELLO
        sequence = await net.close_ledger()
        event = await read_event(response)
        assert json.loads(event.split(b"data: ", 1)[1])["sequence"] == sequence
        assert await response.read() == BYEBYE
