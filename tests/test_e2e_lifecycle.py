"""The whole lifecycle end to end on the devnet (SPEC §3, §4, §5.4): each row of the status table,
each crediting operation type, expiry by network time, verify, refund, the inbound webhook.

Every test runs on SQLite and PostgreSQL with real signed transactions. Network time is the devnet's
ledger clock, which tests move ahead of or behind the wall clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from stellar_sdk import Asset, CreateAccount, IdMemo, Keypair

from api.app import create_app
from shared.clock import utcnow
from shared.config import AccountSettings
from shared.signatures import sign_headers
from shared.store import events as event_store
from shared.store.engine import Database
from tests.conftest import Shop
from tests.support import (
    all_receipts,
    eventually,
    initiate,
    payment,
    receipts_of,
    running_watcher,
    wait_receipt,
    wait_status,
)

INBOUND_SECRET = "whsec_ZTJlLWluYm91bmQtc2VjcmV0LTEyMzQ="


def memo_of(created: dict[str, Any]) -> IdMemo:
    return IdMemo(int(created["memo"]))


async def event_types(db: Database, payment_id: str) -> list[str]:
    async with db.read() as conn:
        return [e.type for e in await event_store.for_payment(conn, payment_id)]


def with_sections(shop: Shop, **sections: dict[str, Any]) -> Any:
    """The shop's settings with some keys of some sections replaced."""
    updates = {}
    for name, values in sections.items():
        section = getattr(shop.settings, name)
        updates[name] = type(section).model_validate({**section.model_dump(), **values})
    return shop.settings.model_copy(update=updates)


async def api_with_clock(shop: Shop, aiohttp_client: Any, settings: Any, shift: timedelta) -> Any:
    """An API whose wall clock is shifted: creating a payment whose window ends in a second."""
    now: Callable[[], datetime] = lambda: utcnow() + shift  # noqa: E731
    return await aiohttp_client(create_app(settings, shop.db, now=now))


# --- SPEC §3, row by row -------------------------------------------------------------------------


async def test_partial_payments_accumulate_then_confirm(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="p-1", amount="25", currency="USDC")
    first = await shop.client.pay(shop.buyer, shop.merchant.public_key, "10", shop.usdc, memo_of(created))
    await wait_receipt(shop.db, first.hash)
    row = await payment(shop.db, created["id"])
    assert (row.status, row.amount_received) == ("pending", 100_000_000)
    await shop.client.pay(shop.buyer, shop.merchant.public_key, "15", shop.usdc, memo_of(created))
    row = await wait_status(shop.db, created["id"], "confirmed")
    assert row.amount_received == 250_000_000
    assert await event_types(shop.db, created["id"]) == [
        "payment.initiated",
        "payment.funds_received",
        "payment.funds_received",
        "payment.confirmed",
    ]


async def test_underpayment_tolerance(shop: Shop, aiohttp_client: Any) -> None:
    settings = with_sections(shop, payments={"underpayment_tolerance_percent": 1})
    api = await aiohttp_client(create_app(settings, shop.db))
    async with running_watcher(settings, shop.db):
        created = await initiate(api, shop.key, order_id="tol", amount="100", currency="XLM")
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "99", memo=memo_of(created))
        row = await wait_status(shop.db, created["id"], "confirmed")
    assert (row.amount_received, row.flag_overpaid) == (990_000_000, False)


async def test_overpayment_is_kept_and_flagged(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="over", amount="25", currency="XLM")
    await shop.client.pay(shop.buyer, shop.merchant.public_key, "30", memo=memo_of(created))
    await wait_status(shop.db, created["id"], "confirmed")
    more = await shop.client.pay(shop.buyer, shop.merchant.public_key, "1", memo=memo_of(created))
    await wait_receipt(shop.db, more.hash)
    shown = await (await shop.api.get(f"/payments/{created['id']}", headers=shop.auth())).json()
    assert (shown["status"], shown["flags"]["overpaid"]) == ("confirmed", True)
    assert (shown["amount_received"], shown["overpaid_amount"]) == ("31.0000000", "6.0000000")


async def test_nothing_came_times_out_by_network_time(shop: Shop, aiohttp_client: Any) -> None:
    api = await api_with_clock(shop, aiohttp_client, shop.settings, timedelta(seconds=-59))  # window: ~1 s
    created = await initiate(api, shop.key, order_id="t-out", amount="5", currency="XLM", timeout_minutes=1)
    async with running_watcher(shop.settings, shop.db):
        row = await wait_status(shop.db, created["id"], "timeout")
    assert row.failed_at is not None
    assert await event_types(shop.db, created["id"]) == ["payment.initiated", "payment.timeout"]


async def test_too_little_came_fails_underpaid(shop: Shop, aiohttp_client: Any) -> None:
    api = await api_with_clock(shop, aiohttp_client, shop.settings, timedelta(seconds=-58))
    created = await initiate(api, shop.key, order_id="under", amount="5", currency="XLM", timeout_minutes=1)
    async with running_watcher(shop.settings, shop.db):
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "2", memo=memo_of(created))
        row = await wait_status(shop.db, created["id"], "failed")
    assert (row.failure_reason, row.amount_received) == ("underpaid", 20_000_000)


async def test_cancelled_then_paid_records_the_money_for_a_refund(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="c-then-p", amount="5", currency="XLM")
    cancelled = await shop.api.post(f"/payments/{created['id']}/cancel", headers=shop.auth())
    assert (await cancelled.json())["failure_reason"] == "cancelled"
    paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
    receipt = await wait_receipt(shop.db, paid.hash)
    row = await payment(shop.db, created["id"])
    assert (row.status, row.failure_reason, row.amount_received, receipt.disposition) == (
        "failed",
        "cancelled",
        50_000_000,
        "accepted",
    )


async def close_the_window(shop: Shop) -> None:
    """Move the network's clock two minutes ahead: a one-minute window closes by network time now."""
    shop.network.net.set_clock_offset(120)
    await shop.network.net.close_ledger()


async def refund_all(shop: Shop, api: Any, payment_id: str, amount: str) -> dict[str, Any]:
    """The merchant sends `amount` back to the buyer; the API verifies that refund on Horizon."""
    sent = await shop.client.pay(shop.merchant, shop.buyer.public_key, amount)
    response = await api.post(
        f"/payments/{payment_id}/refund", json={"transaction_hash": sent.hash}, headers=shop.auth()
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_underpaid_then_refunded(watching: Shop) -> None:
    shop = watching
    created = await initiate(
        shop.api, shop.key, order_id="u-rf", amount="5", currency="XLM", timeout_minutes=1
    )
    short = await shop.client.pay(shop.buyer, shop.merchant.public_key, "2", memo=memo_of(created))
    await wait_receipt(shop.db, short.hash)
    await close_the_window(shop)
    row = await wait_status(shop.db, created["id"], "failed")
    assert (row.failure_reason, row.amount_received) == ("underpaid", 20_000_000)
    body = await refund_all(shop, shop.api, created["id"], "2")
    assert (body["status"], body["amount_refunded"]) == ("refunded", "2.0000000")
    assert await event_types(shop.db, created["id"]) == [
        "payment.initiated",
        "payment.funds_received",
        "payment.failed",
        "payment.refunded",
    ]


async def test_timed_out_then_late_funds_then_refunded(watching: Shop) -> None:
    shop = watching
    created = await initiate(
        shop.api, shop.key, order_id="t-rf", amount="5", currency="XLM", timeout_minutes=1
    )
    await close_the_window(shop)
    await wait_status(shop.db, created["id"], "timeout")
    late = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
    assert (await wait_receipt(shop.db, late.hash)).disposition == "late"
    row = await payment(shop.db, created["id"])
    assert (row.status, row.flag_late, row.amount_received) == (
        "timeout",
        True,
        50_000_000,
    )  # kept, not confirmed
    body = await refund_all(shop, shop.api, created["id"], "5")
    assert (body["status"], body["amount_refunded"]) == ("refunded", "5.0000000")
    assert await event_types(shop.db, created["id"]) == [
        "payment.initiated",
        "payment.timeout",
        "payment.funds_received",
        "payment.refunded",
    ]


async def test_underpaid_then_late_funds_with_accept_late_confirms_flagged_late(
    shop: Shop, aiohttp_client: Any
) -> None:
    settings = with_sections(shop, payments={"accept_late": True})
    api = await aiohttp_client(create_app(settings, shop.db))
    async with running_watcher(settings, shop.db):
        created = await initiate(
            api, shop.key, order_id="u-late", amount="5", currency="XLM", timeout_minutes=1
        )
        short = await shop.client.pay(shop.buyer, shop.merchant.public_key, "2", memo=memo_of(created))
        await wait_receipt(shop.db, short.hash)
        await close_the_window(shop)
        await wait_status(shop.db, created["id"], "failed")
        rest = await shop.client.pay(shop.buyer, shop.merchant.public_key, "3", memo=memo_of(created))
        row = await wait_status(shop.db, created["id"], "confirmed")
    assert (await wait_receipt(shop.db, rest.hash)).disposition == "late"
    assert (row.flag_late, row.failure_reason, row.amount_received, row.amount_late) == (
        True,
        None,
        50_000_000,
        30_000_000,
    )
    assert row.stellar_transaction_id == rest.hash  # the late credit completed it
    assert await event_types(shop.db, created["id"]) == [
        "payment.initiated",
        "payment.funds_received",
        "payment.failed",
        "payment.funds_received",
        "payment.confirmed",
    ]


# --- expiry by network time (SPEC §5.4) ------------------------------------------------------------


async def test_network_behind_the_wall_clock_keeps_the_window_open(shop: Shop, aiohttp_client: Any) -> None:
    """The wall clock passes expires_at while the network has not: still pending; paid then: on time."""
    shop.network.net.set_clock_offset(-600)  # close times stop until the wall clock is 10 min later
    api = await api_with_clock(shop, aiohttp_client, shop.settings, timedelta(seconds=-59))
    created = await initiate(api, shop.key, order_id="behind", amount="5", currency="XLM", timeout_minutes=1)
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    async with running_watcher(shop.settings, shop.db) as watcher:
        # Wait until the wall clock is past expires_at and the watcher has looked at the network since.
        await eventually(lambda: _after(expires), within=5, what="the wall clock to pass expires_at")
        seen = watcher.clock.observations
        await eventually(
            lambda: _true(watcher.clock.observations >= seen + 3), what="three looks at the network"
        )
        assert (await payment(shop.db, created["id"])).status == "pending"
        paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
        row = await wait_status(shop.db, created["id"], "confirmed")
    receipt = (await receipts_of(shop.db, created["id"]))[0]
    assert receipt.transaction_hash == paid.hash
    assert receipt.closed_at <= expires < utcnow()  # on time by the network, late by the wall clock
    assert receipt.disposition == "accepted"
    assert not row.flag_late


async def test_network_ahead_of_the_wall_clock_times_out_early(shop: Shop) -> None:
    created = await initiate(
        shop.api, shop.key, order_id="ahead", amount="5", currency="XLM", timeout_minutes=1
    )
    shop.network.net.set_clock_offset(120)  # the network passes expires_at long before the wall clock
    await shop.network.net.close_ledger()
    async with running_watcher(shop.settings, shop.db):
        row = await wait_status(shop.db, created["id"], "timeout", within=10)
    assert row.expires_at > utcnow()


async def test_paid_on_time_but_processed_late_is_confirmed(shop: Shop, aiohttp_client: Any) -> None:
    api = await api_with_clock(shop, aiohttp_client, shop.settings, timedelta(seconds=-55))
    created = await initiate(api, shop.key, order_id="lag", amount="5", currency="XLM", timeout_minutes=1)
    # The watcher is down: the buyer pays on time, then the network moves far past expires_at.
    paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
    shop.network.net.set_clock_offset(600)
    await shop.network.net.close_ledger()
    async with running_watcher(shop.settings, shop.db):
        row = await wait_status(shop.db, created["id"], "confirmed")
    assert row.stellar_transaction_id == paid.hash
    assert await event_types(shop.db, created["id"]) == [
        "payment.initiated",
        "payment.funds_received",
        "payment.confirmed",
    ]


@pytest.mark.parametrize("accept_late", [False, True])
async def test_paid_after_expiry_is_late(shop: Shop, aiohttp_client: Any, accept_late: bool) -> None:
    settings = with_sections(shop, payments={"accept_late": accept_late})
    api = await api_with_clock(shop, aiohttp_client, settings, timedelta(seconds=-61))  # expired already
    created = await initiate(api, shop.key, order_id="late", amount="5", currency="XLM", timeout_minutes=1)
    async with running_watcher(settings, shop.db):
        paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
        receipt = await wait_receipt(shop.db, paid.hash)
        row = await wait_status(shop.db, created["id"], "confirmed" if accept_late else "timeout")
    assert receipt.disposition == "late"
    assert (row.flag_late, row.amount_received, row.amount_late) == (True, 50_000_000, 50_000_000)
    expected = ["payment.initiated", "payment.timeout", "payment.funds_received"]
    assert await event_types(shop.db, created["id"]) == expected + (
        ["payment.confirmed"] if accept_late else []
    )


async def test_after_the_late_window_money_is_unmatched(shop: Shop, aiohttp_client: Any) -> None:
    settings = with_sections(shop, payments={"late_window_minutes": 0})
    api = await api_with_clock(shop, aiohttp_client, settings, timedelta(seconds=-61))
    created = await initiate(
        api, shop.key, order_id="too-late", amount="5", currency="XLM", timeout_minutes=1
    )
    async with running_watcher(settings, shop.db):
        paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
        receipt = await wait_receipt(shop.db, paid.hash)
        await wait_status(shop.db, created["id"], "timeout")
    assert (receipt.disposition, receipt.reason, receipt.payment_id) == (
        "unmatched",
        "late_window_passed",
        None,
    )


def _after(moment: datetime) -> Any:
    async def check() -> bool:
        return utcnow() > moment

    return check()


def _true(value: bool) -> Any:
    async def check() -> bool:
        return value

    return check()


# --- every crediting operation type (SPEC §4) -------------------------------------------------------


async def test_path_payment_strict_receive_credits_the_destination_asset(watching: Shop) -> None:
    shop = watching
    shop.network.net.set_rate(Asset.native(), shop.usdc, 1, 10)  # 10 XLM buys 1 USDC
    created = await initiate(shop.api, shop.key, order_id="ppr", amount="5", currency="USDC")
    result = await shop.client.path_pay_strict_receive(
        shop.buyer, shop.merchant.public_key, Asset.native(), "60", shop.usdc, "5", memo=memo_of(created)
    )
    assert result.successful, result.result_codes
    await wait_status(shop.db, created["id"], "confirmed")
    (receipt,) = await receipts_of(shop.db, created["id"])
    assert (receipt.operation_type, receipt.amount, receipt.asset_code) == (
        "path_payment_strict_receive",
        50_000_000,
        "USDC",
    )


async def test_path_payment_strict_send_credits_what_arrived(watching: Shop) -> None:
    shop = watching
    shop.network.net.set_rate(Asset.native(), shop.usdc, 1, 10)
    created = await initiate(shop.api, shop.key, order_id="pps", amount="5", currency="USDC")
    result = await shop.client.path_pay_strict_send(
        shop.buyer, created["muxed_destination"], Asset.native(), "50", shop.usdc, "4.9"
    )
    assert result.successful, result.result_codes
    row = await wait_status(shop.db, created["id"], "confirmed")
    assert row.amount_received == 50_000_000  # what the merchant received, not the 50 XLM sent


async def test_create_account_for_a_new_receiving_account(shop: Shop, aiohttp_client: Any) -> None:
    fresh = Keypair.random()  # a receiving account that does not exist on the network yet
    accounts = [*shop.settings.accounts, AccountSettings(address=fresh.public_key)]
    settings = shop.settings.model_copy(update={"accounts": accounts})
    api = await aiohttp_client(create_app(settings, shop.db))
    async with running_watcher(settings, shop.db):
        created = await initiate(
            api, shop.key, order_id="ca", amount="20", currency="XLM", destination=fresh.public_key
        )
        envelope = await shop.client.build(
            shop.buyer, [CreateAccount(fresh.public_key, "20")], memo_of(created)
        )
        result = await shop.client.submit(envelope)
        assert result.successful, result.result_codes
        row = await wait_status(shop.db, created["id"], "confirmed")
    (receipt,) = await receipts_of(shop.db, created["id"])
    assert (receipt.operation_type, row.amount_received) == ("create_account", 200_000_000)


async def test_account_merge_credits_the_merged_balance_from_effects(watching: Shop) -> None:
    shop = watching
    leaving = await shop.network.funded()
    created = await initiate(shop.api, shop.key, order_id="merge", amount="1", currency="XLM")
    envelope = await shop.client.build(leaving, [_merge(shop.merchant.public_key)], memo_of(created))
    result = await shop.client.submit(envelope)
    assert result.successful, result.result_codes
    row = await wait_status(shop.db, created["id"], "confirmed")
    (receipt,) = await receipts_of(shop.db, created["id"])
    effects = await shop.client.get_json(f"/operations/{receipt.operation_id}/effects")
    credited = next(e for e in effects["_embedded"]["records"] if e["type"] == "account_credited")
    assert receipt.operation_type == "account_merge"
    whole, fraction = credited["amount"].split(".")
    assert receipt.amount == int(whole) * 10_000_000 + int(fraction)
    assert row.amount_received == receipt.amount
    assert row.flag_overpaid


def _merge(into: str) -> Any:
    from stellar_sdk import AccountMerge

    return AccountMerge(into)


async def test_contract_transfer_to_a_muxed_address(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="sac", amount="7", currency="USDC")
    await shop.client.contract_transfer(shop.buyer.public_key, created["muxed_destination"], shop.usdc, "7")
    row = await wait_status(shop.db, created["id"], "confirmed")
    (receipt,) = await receipts_of(shop.db, created["id"])
    assert (receipt.operation_type, receipt.muxed_id, row.amount_received) == (
        "invoke_host_function",
        created["reference"],
        70_000_000,
    )


# --- verify, refund, the inbound webhook -------------------------------------------------------------


async def test_verify_attributes_a_memoless_payment_seen_by_the_stream(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="v-1", amount="5", currency="XLM")
    paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5")
    assert (await wait_receipt(shop.db, paid.hash)).disposition == "unmatched"
    response = await shop.api.post(
        f"/payments/{created['id']}/verify", json={"transaction_hash": paid.hash}, headers=shop.auth()
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["status"], body["flags"]["manual"]) == ("confirmed", True)
    assert [r["transaction_hash"] for r in body["receipts"]] == [paid.hash]
    again = await shop.api.post(
        f"/payments/{created['id']}/verify", json={"transaction_hash": paid.hash}, headers=shop.auth()
    )
    assert (again.status, (await again.json())["amount_received"]) == (200, "5.0000000")  # idempotent


async def test_verify_before_the_stream_then_the_stream_changes_nothing(shop: Shop) -> None:
    created = await initiate(shop.api, shop.key, order_id="v-2", amount="5", currency="XLM")
    paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
    response = await shop.api.post(
        f"/payments/{created['id']}/verify", json={"transaction_hash": paid.hash}, headers=shop.auth()
    )
    assert (await response.json())["status"] == "confirmed"
    async with running_watcher(shop.settings, shop.db):
        marker = await shop.client.pay(shop.buyer, shop.merchant.public_key, "1")
        await wait_receipt(shop.db, marker.hash)
    assert len(await receipts_of(shop.db, created["id"])) == 1
    assert (await payment(shop.db, created["id"])).amount_received == 50_000_000


async def test_verify_refusals(shop: Shop) -> None:
    mine = await initiate(shop.api, shop.key, order_id="v-3", amount="5", currency="XLM")
    other = await initiate(shop.api, shop.key, order_id="v-4", amount="5", currency="XLM")
    for_other = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(other))
    failed = await shop.client.pay_in_failed_transaction(
        shop.buyer, shop.merchant.public_key, "5", memo=memo_of(mine)
    )
    cases = {for_other.hash: 422, failed.hash: 422, "ab" * 32: 404, "XYZ": 422}
    for tx_hash, status in cases.items():
        response = await shop.api.post(
            f"/payments/{mine['id']}/verify", json={"transaction_hash": tx_hash}, headers=shop.auth()
        )
        assert response.status == status, (tx_hash, await response.text())
    # A refused verify changed nothing: the other payment's money is still unrecorded.
    assert await all_receipts(shop.db) == []
    assert (
        await shop.api.post(
            "/payments/pay_nope/verify", json={"transaction_hash": for_other.hash}, headers=shop.auth()
        )
    ).status == 404


async def test_refunds_verified_on_horizon(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="rf", amount="10", currency="XLM")
    await shop.client.pay(shop.buyer, shop.merchant.public_key, "12", memo=memo_of(created))
    await wait_status(shop.db, created["id"], "confirmed")
    not_a_refund = await shop.client.pay(shop.buyer, shop.merchant.public_key, "1")
    refused = await shop.api.post(
        f"/payments/{created['id']}/refund", json={"transaction_hash": not_a_refund.hash}, headers=shop.auth()
    )
    assert refused.status == 422
    stranger = await shop.network.funded()
    to_stranger = await shop.client.pay(shop.merchant, stranger.public_key, "12")
    refused = await shop.api.post(
        f"/payments/{created['id']}/refund", json={"transaction_hash": to_stranger.hash}, headers=shop.auth()
    )
    assert refused.status == 422
    partial = await shop.client.pay(shop.merchant, shop.buyer.public_key, "2")
    response = await shop.api.post(
        f"/payments/{created['id']}/refund", json={"transaction_hash": partial.hash}, headers=shop.auth()
    )
    body = await response.json()
    assert (response.status, body["status"], body["amount_refunded"]) == (200, "confirmed", "2.0000000")
    rest = await shop.client.pay(shop.merchant, shop.buyer.public_key, "10")
    for _ in range(2):  # the second call is idempotent
        response = await shop.api.post(
            f"/payments/{created['id']}/refund", json={"transaction_hash": rest.hash}, headers=shop.auth()
        )
        body = await response.json()
        assert (body["status"], body["amount_refunded"]) == ("refunded", "12.0000000")
    assert [r["amount"] for r in body["refunds"]] == ["2.0000000", "10.0000000"]
    assert (await event_types(shop.db, created["id"]))[-1] == "payment.refunded"


async def test_inbound_webhook_applies_by_memo_and_refuses_replays(shop: Shop, aiohttp_client: Any) -> None:
    settings = with_sections(shop, inbound_webhook={"secret": INBOUND_SECRET})
    api = await aiohttp_client(create_app(settings, shop.db))
    created = await initiate(api, shop.key, order_id="in-1", amount="5", currency="XLM")
    paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
    body = json.dumps({"transaction_hash": paid.hash}).encode()

    async def post(message_id: str) -> Any:
        headers = sign_headers([INBOUND_SECRET], message_id, int(time.time()), body)
        return await api.post(
            "/payments/webhook/stellar", data=body, headers={**headers, "Content-Type": "application/json"}
        )

    first = await post("msg-1")
    assert first.status == 200, await first.text()
    receipts = (await first.json())["receipts"]
    assert [(r["payment_id"], r["disposition"]) for r in receipts] == [(created["id"], "accepted")]
    assert (await payment(shop.db, created["id"])).status == "confirmed"
    assert (await post("msg-1")).status == 409  # a replayed message id
    second = await post("msg-2")  # another report of the same transaction changes nothing
    assert second.status == 200
    assert (await payment(shop.db, created["id"])).amount_received == 50_000_000
    assert len(await all_receipts(shop.db)) == 1
