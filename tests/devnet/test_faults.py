"""Fault controls: injected statuses, dropped/repeated/stalled streams, garbage on the wire."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from stellar_sdk import Keypair

from devnet import DevNet, gojson
from devnet.client import DevnetClient, HorizonError
from devnet.faults import Fault, FaultRegistry
from devnet.faultstream import GARBAGE_BYTES, INVALID_JSON, MALFORMED_LINE
from devnet.sse import BYEBYE, HELLO

Funded = Callable[[], Awaitable[Keypair]]
SSE = {"Accept": "text/event-stream"}


def frame(record: dict[str, object]) -> bytes:
    return f"id: {record['paging_token']}\ndata: {gojson.compact(record)}\n\n".encode()


async def _account_with_payments(
    client: DevnetClient, funded: Funded, count: int
) -> tuple[str, list[dict[str, object]]]:
    a, b = await funded(), await funded()
    for i in range(count):
        await client.pay(a, b.public_key, str(i + 1))
    records = (await client.get_json(f"/accounts/{b.public_key}/payments", limit=200))["_embedded"]["records"]
    return f"/accounts/{b.public_key}/payments", records


async def _stream_body(session: aiohttp.ClientSession, url: str, limit: int) -> bytes:
    async with session.get(url, params={"limit": str(limit)}, headers=SSE) as response:
        return await response.read()


async def test_status_faults_on_rest(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession
) -> None:
    net.add_fault("status", scope="rest", status=503, count=2, retry_after=7, path_prefix="/payments")
    for _ in range(2):
        async with session.get(f"{client.horizon_url}/payments") as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "7"
            body = await response.json(content_type=None)
            assert body["type"] == "https://stellar.org/horizon-errors/service_unavailable"
    async with session.get(f"{client.horizon_url}/payments") as response:
        assert response.status == 200  # the fault has expired after two uses
    assert net.faults.active() == []


async def test_status_429_before_a_stream_starts(
    client: DevnetClient, session: aiohttp.ClientSession
) -> None:
    fault = await client.add_fault("status", status=429, retry_after=3)
    async with session.get(f"{client.horizon_url}/ledgers", headers=SSE) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "3"
        assert response.headers["Content-Type"] == "application/problem+json; charset=utf-8"
        assert (await response.json(content_type=None))["type"].endswith("/rate_limit_exceeded")
    async with session.get(f"{client.horizon_url}/ledgers") as response:
        assert response.status == 200  # a stream-scoped fault leaves REST alone
    await client.control("DELETE", f"faults/{fault['id']}")
    async with session.get(f"{client.horizon_url}/ledgers", params={"limit": "1"}, headers=SSE) as response:
        assert response.status == 200


async def test_drop_after_n_events(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession, funded: Funded
) -> None:
    path, records = await _account_with_payments(client, funded, 3)
    net.add_fault("drop", after_events=2, count=1)
    received: list[bytes] = []

    async def read_all(response: aiohttp.ClientResponse) -> None:
        while chunk := await response.content.read(65536):
            received.append(chunk)

    async with session.get(client.horizon_url + path, params={"limit": "10"}, headers=SSE) as response:
        with pytest.raises(aiohttp.ClientPayloadError):
            await read_all(response)
    assert b"".join(received) == HELLO + frame(records[0]) + frame(records[1])  # no byebye
    assert await _stream_body(session, client.horizon_url + path, 1) == HELLO + frame(records[0]) + BYEBYE


async def test_drop_right_after_hello(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession
) -> None:
    net.add_fault("drop", count=1)
    async with session.get(
        f"{client.horizon_url}/transactions", params={"cursor": "now"}, headers=SSE
    ) as response:
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [("duplicate", [0, 0, 1, 1]), ("previous", [0, 0, 1])],
)
async def test_repeat_events(
    client: DevnetClient,
    net: DevNet,
    session: aiohttp.ClientSession,
    funded: Funded,
    repeat: str,
    expected: list[int],
) -> None:
    path, records = await _account_with_payments(client, funded, 1)
    net.add_fault("repeat", repeat=repeat, count=1)
    body = await _stream_body(session, client.horizon_url + path, 2)
    assert body == HELLO + b"".join(frame(records[i]) for i in expected) + BYEBYE


async def test_stall_sends_hello_then_nothing(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    net.add_fault("stall", count=1)
    url = f"{client.horizon_url}/accounts/{b.public_key}/payments"
    async with session.get(url, params={"cursor": "now"}, headers=SSE) as response:
        assert await response.content.readuntil(b"\n\n") == HELLO
        assert (await client.pay(a, b.public_key, "1")).successful  # a matching record now exists
        with pytest.raises(TimeoutError):  # silence is the behaviour under test: nothing to await
            await asyncio.wait_for(response.content.read(1), 0.3)


@pytest.mark.parametrize(
    ("garbage", "injected"),
    [("malformed_line", MALFORMED_LINE), ("bytes", GARBAGE_BYTES), ("invalid_json", INVALID_JSON)],
)
async def test_garbage_between_records(
    client: DevnetClient,
    net: DevNet,
    session: aiohttp.ClientSession,
    funded: Funded,
    garbage: str,
    injected: bytes,
) -> None:
    path, records = await _account_with_payments(client, funded, 1)
    net.add_fault("garbage", garbage=garbage, after_events=1, count=1)
    body = await _stream_body(session, client.horizon_url + path, 2)
    assert body == HELLO + frame(records[0]) + injected + frame(records[1]) + BYEBYE


async def test_record_with_a_missing_field(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession, funded: Funded
) -> None:
    path, records = await _account_with_payments(client, funded, 1)
    net.add_fault("garbage", garbage="missing_field", missing_field="amount", after_events=1, count=1)
    body = await _stream_body(session, client.horizon_url + path, 2)
    damaged = {k: v for k, v in records[1].items() if k != "amount"}
    assert body == HELLO + frame(records[0]) + frame(damaged) + BYEBYE


async def test_faults_are_scoped_by_path(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession, funded: Funded
) -> None:
    path, records = await _account_with_payments(client, funded, 0)
    net.add_fault("drop", path_prefix="/accounts/GNOTTHISONE")
    assert await _stream_body(session, client.horizon_url + path, 1) == HELLO + frame(records[0]) + BYEBYE
    assert len(net.faults.active()) == 1


async def test_fault_controls_over_http(client: DevnetClient) -> None:
    with pytest.raises(HorizonError):
        await client.add_fault("explode")
    with pytest.raises(HorizonError):
        await client.add_fault("drop", scope="rest")  # stream behaviours cannot apply to REST
    added = await client.add_fault("garbage", garbage="bytes", count=3)
    assert (added["kind"], added["count"], added["fired"]) == ("garbage", 3, 0)
    assert [f["id"] for f in await client.control("GET", "faults")] == [added["id"]]
    assert (await client.state())["faults"][0]["id"] == added["id"]
    await client.clear_faults()
    assert await client.control("GET", "faults") == []


def test_fault_expiry_by_count_and_time() -> None:
    now = [100.0]
    registry = FaultRegistry(clock=lambda: now[0])
    registry.add(Fault("stall", duration_seconds=5))
    registry.add(Fault("drop", count=1, path_prefix="/payments"))
    assert registry.take("/payments", True, ("drop",)) is not None
    assert registry.take("/payments", True, ("drop",)) is None  # used up
    assert registry.take("/ledgers", True, ("stall",)) is not None
    now[0] += 5
    assert registry.take("/ledgers", True, ("stall",)) is None  # expired
    assert registry.active() == []
