"""Injected SAC transfers: `invoke_host_function` payments without a contract runtime."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from stellar_sdk import Asset, IdMemo, Keypair, MuxedAccount, TextMemo

from devnet import DevNet
from devnet.client import DevnetClient, HorizonError

Funded = Callable[[], Awaitable[Keypair]]
XLM = 10_000_000
SSE = {"Accept": "text/event-stream"}


async def test_native_transfer_to_muxed_account(
    client: DevnetClient, net: DevNet, funded: Funded, session: aiohttp.ClientSession
) -> None:
    payer, merchant = await funded(), await funded()
    to = MuxedAccount(merchant.public_key, 123456789).account_muxed or ""
    url = f"{client.horizon_url}/accounts/{merchant.public_key}/payments"
    async with session.get(url, params={"cursor": "now", "limit": "1"}, headers=SSE) as stream:
        await stream.content.readuntil(b"\n\n")  # hello
        outcome = await net.inject_contract_transfer(payer.public_key, to, None, "5", memo=IdMemo(9))
        streamed = await stream.content.readuntil(b"\n\n")
    assert outcome.successful
    assert net.balance(merchant.public_key) == 10_005 * XLM
    assert net.balance(payer.public_key) == 10_000 * XLM - 5 * XLM - 100
    op = json.loads(streamed.split(b"data: ", 1)[1])
    assert (op["type"], op["type_i"], op["transaction_successful"]) == ("invoke_host_function", 24, True)
    assert op["asset_balance_changes"] == [
        {
            "asset_type": "native",
            "type": "transfer",
            "from": payer.public_key,
            "to": merchant.public_key,
            "amount": "5.0000000",
            "destination_muxed_id": "123456789",
        }
    ]
    assert [p["type"] for p in op["parameters"]] == ["Address", "Sym", "Address", "Address", "I128"]
    assert op["parameters"][1]["value"] == "AAAADwAAAAh0cmFuc2Zlcg=="  # Sym "transfer"
    tx = await client.get_json(f"/transactions/{op['transaction_hash']}")
    assert (tx["memo_type"], tx["memo"]) == ("id", "9")
    listed = await client.get_json("/payments", order="desc", limit=1)
    assert listed["_embedded"]["records"][0]["id"] == op["id"]


async def test_credit_transfer_over_http(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    issuer, holder, merchant = await funded(), await funded(), await funded()
    usdc = Asset("USDC", issuer.public_key)
    await client.issue(issuer, holder, usdc, "50")
    await client.trust(merchant, usdc)
    done = await client.contract_transfer(
        holder.public_key, merchant.public_key, usdc, "12.5", TextMemo("order-7")
    )
    assert done["successful"] is True
    assert net.balance(merchant.public_key, usdc) == 125_000_000
    op = await client.get_json(f"/operations/{done['operation_id']}")
    change = op["asset_balance_changes"][0]
    assert (change["asset_code"], change["asset_issuer"], change["amount"]) == (
        "USDC",
        issuer.public_key,
        "12.5000000",
    )
    assert "destination_muxed_id" not in change
    effects = (await client.get_json(f"/operations/{done['operation_id']}/effects"))["_embedded"]["records"]
    assert [(e["type"], e["account"]) for e in effects] == [
        ("account_debited", holder.public_key),
        ("account_credited", merchant.public_key),
    ]


async def test_transfer_from_a_contract(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    merchant = await funded()
    contract = Asset.native().contract_id(net.passphrase)
    done = await client.contract_transfer(contract, merchant.public_key, None, "1")
    assert net.balance(merchant.public_key) == 10_001 * XLM
    op = await client.get_json(f"/operations/{done['operation_id']}")
    assert op["asset_balance_changes"][0]["from"] == contract
    assert op["source_account"] == net.friendbot_keypair.public_key  # someone has to pay the fee


async def test_impossible_transfers_are_refused(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    payer, merchant = await funded(), await funded()
    usd = Asset("USD", payer.public_key)
    with pytest.raises(ValueError, match="cannot receive"):
        net.inject_contract_transfer(payer.public_key, merchant.public_key, usd, "1")
    with pytest.raises(ValueError, match="cannot send"):
        net.inject_contract_transfer(payer.public_key, merchant.public_key, None, "20000")
    with pytest.raises(HorizonError) as refused:
        await client.contract_transfer(payer.public_key, "GNOPE", None, "1")
    assert refused.value.status == 400
