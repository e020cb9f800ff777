"""Path payments at fixed rates (integer arithmetic, rounding in the market maker's favour)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from stellar_sdk import Asset, Keypair, MuxedAccount

from devnet import DevNet
from devnet.assets import from_sdk
from devnet.client import DevnetClient

Funded = Callable[[], Awaitable[Keypair]]
XLM = 10_000_000


async def _setup(client: DevnetClient, net: DevNet, funded: Funded) -> tuple[Keypair, Keypair, Asset]:
    issuer, payer, merchant = await funded(), await funded(), await funded()
    usd = Asset("USD", issuer.public_key)
    assert (await client.trust(merchant, usd)).successful
    net.set_rate(Asset.native(), usd, 1, 3)  # 1 USD for 3 XLM
    return payer, merchant, usd


async def test_strict_receive(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    payer, merchant, usd = await _setup(client, net, funded)
    to = MuxedAccount(merchant.public_key, 77).account_muxed or ""
    result = await client.path_pay_strict_receive(
        payer, to, Asset.native(), "31", usd, "10.0000001", [Asset.native()]
    )
    assert result.successful
    assert net.balance(merchant.public_key, usd) == 100_000_001
    sent = 300_000_003  # ceil(100000001 * 3 / 1)
    assert net.balance(payer.public_key) == 10_000 * XLM - sent - 100
    op = (await client.get_json(f"/accounts/{merchant.public_key}/payments", order="desc", limit=1))[
        "_embedded"
    ]["records"][0]
    assert (op["type"], op["type_i"], op["to_muxed_id"]) == ("path_payment_strict_receive", 2, "77")
    assert (op["amount"], op["source_amount"], op["source_max"]) == ("10.0000001", "30.0000003", "31.0000000")
    assert op["path"] == [{"asset_type": "native"}]
    assert (op["asset_code"], op["source_asset_type"]) == ("USD", "native")


async def test_strict_send(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    payer, merchant, usd = await _setup(client, net, funded)
    result = await client.path_pay_strict_send(payer, merchant.public_key, Asset.native(), "10", usd, "3")
    assert result.successful
    assert net.balance(merchant.public_key, usd) == 33_333_333  # floor(10 XLM / 3)
    op = (await client.get_json(f"/transactions/{result.hash}/payments"))["_embedded"]["records"][0]
    assert (op["amount"], op["source_amount"], op["destination_min"]) == (
        "3.3333333",
        "10.0000000",
        "3.0000000",
    )
    effects = (await client.get_json(f"/operations/{op['id']}/effects"))["_embedded"]["records"]
    assert [(e["type"], e["amount"]) for e in effects] == [
        ("account_credited", "3.3333333"),
        ("account_debited", "10.0000000"),
    ]


async def test_failure_codes(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    payer, merchant, usd = await _setup(client, net, funded)
    over = await client.path_pay_strict_receive(
        payer, merchant.public_key, Asset.native(), "29.9999999", usd, "10"
    )
    assert over.result_codes == {"transaction": "tx_failed", "operations": ["op_over_source_max"]}
    under = await client.path_pay_strict_send(
        payer, merchant.public_key, Asset.native(), "3", usd, "1.0000001"
    )
    assert under.result_codes == {"transaction": "tx_failed", "operations": ["op_under_dest_min"]}
    eur = Asset("EUR", usd.issuer)
    assert (await client.trust(merchant, eur)).successful
    no_rate = await client.path_pay_strict_send(payer, merchant.public_key, Asset.native(), "3", eur, "1")
    assert no_rate.result_codes == {"transaction": "tx_failed", "operations": ["op_too_few_offers"]}
    assert over.recorded
    failed = (await client.get_json(f"/transactions/{over.hash}/payments"))["_embedded"]["records"][0]
    assert (failed["transaction_successful"], failed["source_amount"]) == (False, "0.0000000")
    assert net.balance(merchant.public_key, usd) == 0


async def test_rates_over_http(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    issuer = await funded()
    usd = Asset("USD", issuer.public_key)
    await client.set_rate(Asset.native(), usd, 2, 5)
    assert net.rates.get(from_sdk(Asset.native()), from_sdk(usd)) == (2, 5)
    assert (await client.state())["rates"] == [
        {"send_asset": "native", "dest_asset": f"USD:{issuer.public_key}", "numerator": 2, "denominator": 5}
    ]
