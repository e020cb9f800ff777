"""POST /transactions: validation (nothing applied) and apply-time failures (recorded as failed)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable

import aiohttp
from stellar_sdk import (
    Account,
    Asset,
    CreateAccount,
    HashMemo,
    IdMemo,
    Keypair,
    MuxedAccount,
    Payment,
    ReturnHashMemo,
    Server,
    TextMemo,
    TransactionBuilder,
)

from devnet import DevNet
from devnet.client import DevnetClient

Funded = Callable[[], Awaitable[Keypair]]
XLM = 10_000_000


async def _record(client: DevnetClient, tx_hash: str) -> dict[str, object]:
    return await client.get_json(f"/transactions/{tx_hash}")


async def test_friendbot_funds_once(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession
) -> None:
    kp = Keypair.random()
    record = await client.friendbot(kp.public_key)
    assert record["successful"] is True
    assert net.balance(kp.public_key) == 10_000 * XLM
    async with session.get(client.horizon_url + "/friendbot", params={"addr": kp.public_key}) as again:
        assert again.status == 400
        assert (await again.json(content_type=None))["type"].endswith("/bad_request")
    async with session.get(client.horizon_url + "/friendbot", params={"addr": "nope"}) as bad:
        assert bad.status == 400


async def test_payment_moves_balance_and_charges_fee(
    client: DevnetClient, net: DevNet, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    seq_before = net.accounts[a.public_key].seq_num
    result = await client.pay(a, b.public_key, "12.5")
    assert result.successful
    assert result.status == 200
    assert net.balance(b.public_key) == 10_012_5 * XLM // 10
    assert net.balance(a.public_key) == 10_000 * XLM - 125_000_000 - 100
    assert net.accounts[a.public_key].seq_num == seq_before + 1
    record = result.response
    assert record["fee_charged"] == "100"
    assert record["source_account_sequence"] == str(seq_before + 1)


async def test_bad_sequence_is_rejected_and_nothing_applied(
    client: DevnetClient, net: DevNet, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    account = await client.load_account(a.public_key)
    stale = Account(a.public_key, account.sequence + 5)
    tx = TransactionBuilder(stale, net.passphrase, 100).append_payment_op(b.public_key, Asset.native(), "1")
    envelope = tx.add_time_bounds(0, 0).build()
    envelope.sign(a)
    result = await client.submit(envelope)
    assert result.status == 400
    assert result.result_codes == {"transaction": "tx_bad_seq"}
    assert result.response["extras"]["result_xdr"] == "AAAAAAAAAAD////7AAAAAA=="
    assert not result.recorded
    assert net.balance(a.public_key) == 10_000 * XLM
    assert net.accounts[a.public_key].seq_num == account.sequence


async def test_signature_checks(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    a, b = await funded(), await funded()
    account = await client.load_account(a.public_key)

    def build(passphrase: str, signers: list[Keypair], fee: int = 100) -> str:
        builder = TransactionBuilder(Account(a.public_key, account.sequence), passphrase, fee)
        envelope = builder.append_payment_op(b.public_key, Asset.native(), "1").add_time_bounds(0, 0).build()
        for signer in signers:
            envelope.sign(signer)
        return envelope.to_xdr()

    wrong_key = await client.submit(build(net.passphrase, [b]))
    assert wrong_key.result_codes == {"transaction": "tx_bad_auth"}
    other_network = await client.submit(build("Test SDF Network ; September 2015", [a]))
    assert other_network.result_codes == {"transaction": "tx_bad_auth"}
    unused = await client.submit(build(net.passphrase, [a, b]))
    assert unused.result_codes == {"transaction": "tx_bad_auth_extra"}
    cheap = await client.submit(build(net.passphrase, [a], fee=99))
    assert cheap.result_codes == {"transaction": "tx_insufficient_fee"}
    assert net.balance(a.public_key) == 10_000 * XLM


async def test_operation_source_must_sign(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    a, b, c = await funded(), await funded(), await funded()
    ops = [
        Payment(c.public_key, Asset.native(), "1"),
        Payment(c.public_key, Asset.native(), "1", source=b.public_key),
    ]
    unsigned = await client.submit(await client.build(a, ops))
    assert unsigned.result_codes == {"transaction": "tx_failed", "operations": ["op_success", "op_bad_auth"]}
    assert not unsigned.recorded
    signed = await client.submit(await client.build(a, ops, extra_signers=[b]))
    assert signed.successful
    assert net.balance(c.public_key) == 10_002 * XLM


async def test_time_bounds_follow_network_time(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    a, b = await funded(), await funded()
    account = await client.load_account(a.public_key)
    now = net.network_time()
    builder = TransactionBuilder(Account(a.public_key, account.sequence), net.passphrase, 100)
    envelope = (
        builder.append_payment_op(b.public_key, Asset.native(), "1").add_time_bounds(0, now + 60).build()
    )
    envelope.sign(a)
    net.set_clock_offset(3600)  # the network is an hour ahead: the transaction has expired
    late = await client.submit(envelope)
    assert late.result_codes == {"transaction": "tx_too_late"}
    await net.wait_for_ledger(net.latest_ledger + 1)  # a ledger closes at the later time
    net.set_clock_offset(0)
    # Close times never go backwards, so the network still sees the later time.
    assert (await client.submit(envelope)).result_codes == {"transaction": "tx_too_late"}


async def test_unknown_source_and_malformed_envelope(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession
) -> None:
    ghost = Keypair.random()
    envelope = (
        TransactionBuilder(Account(ghost.public_key, 1), net.passphrase, 100)
        .append_payment_op(net.root_keypair.public_key, Asset.native(), "1")
        .add_time_bounds(0, 0)
        .build()
    )
    envelope.sign(ghost)
    result = await client.submit(envelope)
    assert result.result_codes == {"transaction": "tx_no_source_account"}
    async with session.post(client.horizon_url + "/transactions", data={"tx": "not-xdr"}) as response:
        assert response.status == 400
        body = await response.json(content_type=None)
        assert body["type"] == "https://stellar.org/horizon-errors/transaction_malformed"
        assert body["extras"] == {"envelope_xdr": "not-xdr"}


async def test_underfunded_payment_is_recorded_as_failed(
    client: DevnetClient, net: DevNet, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    seq = net.accounts[a.public_key].seq_num
    result = await client.pay(a, b.public_key, "20000")
    assert result.status == 400
    assert result.result_codes == {"transaction": "tx_failed", "operations": ["op_underfunded"]}
    assert result.response["title"] == "Transaction Failed"
    assert set(result.response["extras"]) == {"envelope_xdr", "result_codes", "result_xdr"}
    assert result.recorded
    assert net.accounts[a.public_key].seq_num == seq + 1  # sequence consumed
    assert net.balance(a.public_key) == 10_000 * XLM - 100  # fee charged, nothing else
    record = await _record(client, result.hash)
    assert record["successful"] is False
    ops = await client.get_json(f"/transactions/{result.hash}/payments")
    assert [op["transaction_successful"] for op in ops["_embedded"]["records"]] == [False]
    # Failed operations are hidden from /payments unless include_failed=true.
    page = await client.get_json(f"/accounts/{b.public_key}/payments", limit=200)
    assert result.hash not in {r["transaction_hash"] for r in page["_embedded"]["records"]}
    page = await client.get_json(f"/accounts/{b.public_key}/payments", limit=200, include_failed="true")
    assert result.hash in {r["transaction_hash"] for r in page["_embedded"]["records"]}


async def test_failed_transaction_that_pays_full_amount(
    client: DevnetClient, net: DevNet, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    result = await client.pay_in_failed_transaction(a, b.public_key, "25", memo=IdMemo(42))
    assert result.result_codes == {
        "transaction": "tx_failed",
        "operations": ["op_success", "op_already_exists"],
    }
    assert result.recorded
    assert net.balance(b.public_key) == 10_000 * XLM
    ops = (await client.get_json(f"/transactions/{result.hash}/payments"))["_embedded"]["records"]
    assert [(op["type"], op.get("amount"), op["transaction_successful"]) for op in ops] == [
        ("payment", "25.0000000", False),
        ("create_account", None, False),
    ]


async def test_muxed_destination_and_source(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    a, b = await funded(), await funded()
    to = MuxedAccount(b.public_key, 987654321)
    result = await client.pay(a, to.account_muxed or "", "1", source_muxed_id=123)
    assert result.successful
    op = (await client.get_json(f"/transactions/{result.hash}/payments"))["_embedded"]["records"][0]
    sender = MuxedAccount(a.public_key, 123).account_muxed
    assert op["source_account_muxed"] == sender
    assert op["source_account_muxed_id"] == "123"
    assert (op["from"], op["from_muxed"], op["from_muxed_id"]) == (a.public_key, sender, "123")
    assert (op["to"], op["to_muxed"], op["to_muxed_id"]) == (b.public_key, to.account_muxed, "987654321")
    tx = await _record(client, result.hash)
    assert (tx["account_muxed"], tx["account_muxed_id"]) == (sender, "123")
    assert tx["fee_account_muxed_id"] == "123"


async def test_credit_assets(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    issuer, holder, other = await funded(), await funded(), await funded()
    usd = Asset("USD", issuer.public_key)
    no_trust = await client.pay(issuer, holder.public_key, "5", usd)
    assert no_trust.result_codes == {"transaction": "tx_failed", "operations": ["op_no_trust"]}
    assert (await client.issue(issuer, holder, usd, "100")).successful
    assert net.balance(holder.public_key, usd) == 100 * XLM
    src_no_trust = await client.pay(other, holder.public_key, "1", usd)
    assert src_no_trust.result_codes == {"transaction": "tx_failed", "operations": ["op_src_no_trust"]}
    assert (await client.trust(other, usd, "10")).successful
    full = await client.pay(holder, other.public_key, "11", usd)
    assert full.result_codes == {"transaction": "tx_failed", "operations": ["op_line_full"]}
    assert (await client.pay(holder, other.public_key, "10", usd)).successful
    burned = await client.pay(holder, issuer.public_key, "90", usd)  # paying the issuer burns tokens
    assert burned.successful
    assert net.balance(holder.public_key, usd) == 0
    account = await client.get_json(f"/accounts/{other.public_key}")
    credit = account["balances"][0]
    assert list(credit) == [
        "balance",
        "limit",
        "buying_liabilities",
        "selling_liabilities",
        "last_modified_ledger",
        "is_authorized",
        "is_authorized_to_maintain_liabilities",
        "asset_type",
        "asset_code",
        "asset_issuer",
    ]
    assert (credit["balance"], credit["limit"], credit["asset_code"]) == ("10.0000000", "10.0000000", "USD")
    assert account["subentry_count"] == 1


async def test_account_merge_and_effects(
    client: DevnetClient, net: DevNet, funded: Funded, session: aiohttp.ClientSession
) -> None:
    a, b = await funded(), await funded()
    result = await client.merge(a, b.public_key)
    assert result.successful
    assert net.account(a.public_key) is None
    merged = 10_000 * XLM - 100
    assert net.balance(b.public_key) == 10_000 * XLM + merged
    op = (await client.get_json(f"/transactions/{result.hash}/payments"))["_embedded"]["records"][0]
    assert (op["type"], op["account"], op["into"]) == ("account_merge", a.public_key, b.public_key)
    effects = (await client.get_json(f"/operations/{op['id']}/effects"))["_embedded"]["records"]
    assert [(e["type"], e["account"], e.get("amount")) for e in effects] == [
        ("account_debited", a.public_key, "9999.9999900"),
        ("account_credited", b.public_key, "9999.9999900"),
        ("account_removed", a.public_key, None),
    ]
    async with session.get(f"{client.horizon_url}/accounts/{a.public_key}") as gone:
        assert gone.status == 404


async def test_data_entries_and_load_account_with_stellar_sdk(
    client: DevnetClient, net: DevNet, funded: Funded
) -> None:
    a = await funded()
    assert (await client.set_data(a, "zeta", b"\x00\x01")).successful
    assert (await client.set_data(a, "alpha", "v")).successful
    account = await client.get_json(f"/accounts/{a.public_key}")
    assert account["data"] == {"alpha": "dg==", "zeta": "AAE="}
    assert list(account["data"]) == ["alpha", "zeta"]
    assert account["subentry_count"] == 2
    loaded = await asyncio.to_thread(Server(client.horizon_url).load_account, a.public_key)
    assert loaded.sequence == net.accounts[a.public_key].seq_num
    removed = await client.set_data(a, "alpha", None)
    assert removed.successful
    missing = await client.set_data(a, "alpha", None)
    assert missing.result_codes == {"transaction": "tx_failed", "operations": ["op_data_name_not_found"]}


async def test_memo_rendering(client: DevnetClient, funded: Funded) -> None:
    a, b = await funded(), await funded()
    digest = hashlib.sha256(b"x").digest()
    digest64 = base64.b64encode(digest).decode()
    cases = [
        (None, "none", None, None),
        (TextMemo("3232096465"), "text", "3232096465", "MzIzMjA5NjQ2NQ=="),
        (TextMemo(b"a\xffb"), "text", "a\ufffdb", "Yf9i"),
        (IdMemo(2**64 - 1), "id", str(2**64 - 1), None),
        (HashMemo(digest), "hash", digest64, None),
        (ReturnHashMemo(digest), "return", digest64, None),
    ]
    for memo, memo_type, value, memo_bytes in cases:
        result = await client.pay(a, b.public_key, "1", memo=memo)
        record = await _record(client, result.hash)
        assert record["memo_type"] == memo_type
        assert record.get("memo") == value
        assert record.get("memo_bytes") == memo_bytes
        keys = list(record)
        if memo_type == "none":
            assert "memo" not in keys
        elif memo_type == "text":
            assert keys[:3] == ["memo", "memo_bytes", "_links"]
        else:
            assert keys[:2] == ["memo", "_links"]


async def test_queued_transactions_from_one_account_apply_in_order(
    client: DevnetClient, net: DevNet, funded: Funded
) -> None:
    a, b = await funded(), await funded()
    account = await client.load_account(a.public_key)
    envelopes = []
    for i in range(3):
        builder = TransactionBuilder(Account(a.public_key, account.sequence + i), net.passphrase, 100)
        envelope = (
            builder.append_operation(Payment(b.public_key, Asset.native(), "1")).add_time_bounds(0, 0).build()
        )
        envelope.sign(a)
        envelopes.append(envelope)
    results = await asyncio.gather(*(client.submit(e) for e in envelopes))
    assert all(r.successful for r in results)
    assert net.balance(b.public_key) == 10_003 * XLM


async def test_create_account_rules(client: DevnetClient, net: DevNet, funded: Funded) -> None:
    a = await funded()
    fresh = Keypair.random()
    low = await client.submit(await client.build(a, [CreateAccount(fresh.public_key, "0.9")]))
    assert low.result_codes == {"transaction": "tx_failed", "operations": ["op_low_reserve"]}
    ok = await client.submit(await client.build(a, [CreateAccount(fresh.public_key, "1")]))
    assert ok.successful
    assert net.accounts[fresh.public_key].seq_num == ok.ledger << 32
    poor = await client.pay(fresh, a.public_key, "0.0000001")
    assert poor.result_codes == {"transaction": "tx_insufficient_balance"}  # no room for the fee
