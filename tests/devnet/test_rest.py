"""REST pages, single resources and problems."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from stellar_sdk import Asset, Keypair, Payment

from devnet import DevNet, render
from devnet.client import DevnetClient

Funded = Callable[[], Awaitable[Keypair]]


async def _get(session: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, str, Any, str]:
    async with session.get(url, params=params) as response:
        text = await response.text()
        return response.status, response.headers["Content-Type"], json.loads(text), text


async def test_pages_links_and_order(
    client: DevnetClient, session: aiohttp.ClientSession, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    for amount in ("1", "2", "3"):
        assert (await client.pay(a, b.public_key, amount)).successful
    url = f"{client.horizon_url}/accounts/{b.public_key}/payments"
    status, content_type, page, raw = await _get(
        session, url, limit="2", **{"X-Client-Name": "py-stellar-base"}
    )
    assert status == 200
    assert content_type == "application/hal+json; charset=utf-8"
    assert list(page) == ["_links", "_embedded"]
    records = page["_embedded"]["records"]
    assert [r["type"] for r in records] == ["create_account", "payment"]
    # Go's url.Values.Encode(): sorted keys; `&` escaped as \u0026 by its JSON encoder; 2-space indent.
    assert f'"href": "{url}?X-Client-Name=py-stellar-base\\u0026cursor=\\u0026limit=2\\u0026order=asc"' in raw
    assert raw.startswith('{\n  "_links": {\n    "self": {\n')
    links = page["_links"]
    assert links["next"]["href"].endswith(f"cursor={records[-1]['paging_token']}&limit=2&order=asc")
    assert links["prev"]["href"].endswith(f"cursor={records[0]['paging_token']}&limit=2&order=desc")
    _, _, second, _ = await _get(session, links["next"]["href"])
    assert [r["amount"] for r in second["_embedded"]["records"]] == ["2.0000000", "3.0000000"]
    _, _, desc, _ = await _get(session, url, order="desc", limit="200")
    ids = [int(r["id"]) for r in desc["_embedded"]["records"]]
    assert ids == sorted(ids, reverse=True)
    _, _, empty, _ = await _get(session, url, cursor=second["_embedded"]["records"][-1]["paging_token"])
    assert empty["_embedded"]["records"] == []


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"limit": "0"}, "limit", "invalid limit: non-positive value provided"),
        ({"limit": "-3"}, "limit", "invalid limit: non-positive value provided"),
        ({"limit": "201"}, "limit", "invalid limit: value provided that is over limit max of 200"),
        ({"limit": "ten"}, "limit", "unparseable value"),
        ({"cursor": "-1"}, "cursor", "the cursor -1 is a negative number: "),
        ({"cursor": "abc"}, "cursor", "cursor: invalid value"),
        ({"order": "up"}, "order", "order: invalid value"),
        ({"join": "ledgers"}, "join", "Accepted values: transactions"),
    ],
)
async def test_bad_paging_params_are_400(
    horizon: str, session: aiohttp.ClientSession, params: dict[str, str], field: str, reason: str
) -> None:
    status, content_type, body, raw = await _get(session, f"{horizon}/payments", **params)
    assert status == 400
    assert content_type == "application/problem+json; charset=utf-8"
    assert body["type"] == "https://stellar.org/horizon-errors/bad_request"
    assert list(body) == ["type", "title", "status", "detail", "extras"]
    assert body["extras"] == {"invalid_field": field, "reason": reason}
    assert raw.startswith('{\n  "type": ')


async def test_not_found_problems(horizon: str, session: aiohttp.ClientSession) -> None:
    stranger = Keypair.random().public_key
    for path in (
        f"/accounts/{stranger}",
        f"/accounts/{stranger}/payments",
        f"/transactions/{'ab' * 32}",
        "/operations/12884905985",
        "/ledgers/999",
        "/no/such/route",
    ):
        status, content_type, body, _ = await _get(session, horizon + path)
        assert (status, body["type"], body["title"]) == (
            404,
            "https://stellar.org/horizon-errors/not_found",
            "Resource Missing",
        ), path
        assert content_type == "application/problem+json; charset=utf-8"


async def test_join_transactions_embeds_the_transaction(client: DevnetClient, funded: Funded) -> None:
    a, b = await funded(), await funded()
    result = await client.pay(a, b.public_key, "7")
    page = await client.get_json(
        f"/accounts/{b.public_key}/payments", join="transactions", order="desc", limit=1
    )
    record = page["_embedded"]["records"][0]
    keys = list(record)
    assert keys.index("transaction") == keys.index("transaction_hash") + 1
    assert record["transaction"] == await client.get_json(f"/transactions/{result.hash}")
    single = await client.get_json(f"/operations/{record['id']}", join="transactions")
    assert single == record


async def test_root_and_ledgers(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    await funded()
    root = await client.get_json("/")
    assert root["network_passphrase"] == net.passphrase
    assert root["history_elder_ledger"] == 1
    assert root["history_latest_ledger"] >= 2
    ledger = await client.get_json(f"/ledgers/{root['history_latest_ledger']}")
    assert ledger["sequence"] == root["history_latest_ledger"]
    assert ledger["paging_token"] == str(ledger["sequence"] << 32)
    assert list(ledger) == [
        "_links",
        "id",
        "paging_token",
        "hash",
        "prev_hash",
        "sequence",
        "successful_transaction_count",
        "failed_transaction_count",
        "operation_count",
        "tx_set_operation_count",
        "closed_at",
        "total_coins",
        "fee_pool",
        "base_fee_in_stroops",
        "base_reserve_in_stroops",
        "max_tx_set_size",
        "protocol_version",
        "header_xdr",
    ]
    page = await client.get_json("/ledgers", order="desc", limit=2)
    first, second = page["_embedded"]["records"]
    assert first["prev_hash"] == second["hash"]
    assert "prev_hash" not in await client.get_json("/ledgers/1")  # genesis: omitempty


async def test_network_time_follows_offset_and_never_goes_back(net: DevNet, horizon: str) -> None:
    net.set_clock_offset(7200)
    ahead = await net.wait_for_ledger(net.latest_ledger + 1)
    closed = net.history.ledger(ahead)
    assert closed is not None
    assert closed.closed_at >= int(time.time()) + 7190
    net.set_clock_offset(-7200)
    later = net.history.ledger(await net.wait_for_ledger(ahead + 1))
    assert later is not None
    assert later.closed_at >= closed.closed_at


async def test_operation_effects_shapes(client: DevnetClient, funded: Funded) -> None:
    a, b = await funded(), await funded()
    result = await client.pay(a, b.public_key, "5")
    op = (await client.get_json(f"/transactions/{result.hash}/payments"))["_embedded"]["records"][0]
    effects = (await client.get_json(f"/operations/{op['id']}/effects"))["_embedded"]["records"]
    credited, debited = effects
    assert list(credited) == [
        "_links",
        "id",
        "paging_token",
        "account",
        "type",
        "type_i",
        "created_at",
        "asset_type",
        "amount",
    ]
    assert (credited["type"], credited["type_i"], credited["account"]) == (
        "account_credited",
        2,
        b.public_key,
    )
    assert (debited["type"], debited["type_i"], debited["account"]) == ("account_debited", 3, a.public_key)
    assert credited["id"] == f"{int(op['id']):019d}-0000000001"
    created = (await client.get_json(f"/accounts/{b.public_key}/effects"))["_embedded"]["records"][0]
    assert (created["type"], created["starting_balance"]) == ("account_created", "10000.0000000")


async def test_unsupported_content_type_on_submit(horizon: str, session: aiohttp.ClientSession) -> None:
    async with session.post(f"{horizon}/transactions", json={"tx": "x"}) as response:
        assert response.status == 415
        body = await response.json(content_type=None)
        assert body["type"].endswith("/unsupported_media_type")


async def test_resubmission_returns_the_same_answer(
    client: DevnetClient, net: DevNet, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    ok = await client.build(a, [Payment(b.public_key, Asset.native(), "1")])
    first = await client.submit(ok)
    again = await client.submit(ok)
    assert (again.status, again.hash, again.ledger) == (200, first.hash, first.ledger)
    failing = await client.build(a, [Payment(b.public_key, Asset.native(), "99999")])
    failed = await client.submit(failing)
    repeated = await client.submit(failing)
    assert (
        failed.result_codes
        == repeated.result_codes
        == {"transaction": "tx_failed", "operations": ["op_underfunded"]}
    )
    assert repeated.ledger == failed.ledger
    assert net.balance(b.public_key) == 10_001 * 10_000_000


async def test_ledger_payments_and_http_controls(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    a, b = await funded(), await funded()
    result = await client.pay(a, b.public_key, "2")
    page = await client.get_json(f"/ledgers/{result.ledger}/payments")
    assert [r["transaction_hash"] for r in page["_embedded"]["records"]] == [result.hash]
    await client.set_clock_offset(86_400)
    sequence = await client.close_ledger()
    state = await client.state()
    assert state["latest_ledger"] >= sequence
    assert state["clock_offset_seconds"] == 86_400
    assert state["network_time"] >= int(time.time()) + 86_390
    closed = await client.get_json(f"/ledgers/{sequence}")
    # RFC 3339 in one fixed format compares correctly as text.
    assert closed["closed_at"] >= render.rfc3339(int(time.time()) + 86_390)
