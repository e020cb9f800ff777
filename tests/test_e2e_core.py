"""End to end on the devnet: real signed transactions, the watcher on a Horizon stream, the API.

Each test runs on SQLite and PostgreSQL. The devnet closes a ledger every 50 ms on loopback.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from stellar_sdk import Asset, IdMemo, MuxedAccount, TextMemo

from api.app import create_app
from shared.domain.references import memo_text_for
from shared.store import events as event_store
from shared.store import status as status_store
from shared.store import streams as stream_store
from tests.conftest import Shop
from tests.support import (
    WatcherProcess,
    all_receipts,
    config_toml,
    eventually,
    initiate,
    payment,
    receipts_of,
    running_watcher,
    usdc,
    wait_receipt,
    wait_status,
)


async def test_memo_payment_is_confirmed_with_its_receipt(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="42", amount="25", currency="XLM")
    result = await shop.client.pay(
        shop.buyer, created["destination"], "25", memo=IdMemo(int(created["memo"]))
    )
    assert result.successful
    row = await wait_status(shop.db, created["id"], "confirmed")
    assert row.amount_received == 250_000_000
    assert row.stellar_transaction_id == result.hash
    assert row.source_account == shop.buyer.public_key
    (receipt,) = await receipts_of(shop.db, created["id"])
    ops = await shop.client.get_json(f"/transactions/{result.hash}/payments")
    (operation,) = ops["_embedded"]["records"]
    assert (receipt.operation_id, receipt.transaction_hash, receipt.ledger) == (
        operation["id"],
        result.hash,
        result.ledger,
    )
    assert (receipt.amount, receipt.disposition) == (250_000_000, "accepted")
    shown = await (
        await shop.api.get(f"/payments/{created['id']}", headers={"Authorization": f"Bearer {shop.key}"})
    ).json()
    assert shown["status"] == "confirmed"
    assert shown["receipts"][0]["operation_id"] == operation["id"]
    assert shown["receipts"][0]["amount"] == "25.0000000"
    async with shop.db.read() as conn:
        events = [e.type for e in await event_store.for_payment(conn, created["id"])]
    assert events == ["payment.initiated", "payment.funds_received", "payment.confirmed"]


async def test_muxed_address_without_memo_is_confirmed(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="m-1", amount="7.5", currency="USDC")
    assert MuxedAccount.from_account(created["muxed_destination"]).account_muxed_id == int(
        created["reference"]
    )
    result = await shop.client.pay(shop.buyer, created["muxed_destination"], "7.5", usdc(shop.issuer))
    assert result.successful
    row = await wait_status(shop.db, created["id"], "confirmed")
    assert row.amount_received == 75_000_000
    (receipt,) = await receipts_of(shop.db, created["id"])
    assert receipt.muxed_id == created["reference"]
    assert receipt.memo_type == "none"


async def test_text_memo_payment_is_confirmed(shop: Shop, aiohttp_client: Any) -> None:
    payments = shop.settings.payments.model_copy(update={"memo_type": "text"})
    settings = shop.settings.model_copy(update={"payments": payments})
    api = await aiohttp_client(create_app(settings, shop.db))
    async with running_watcher(settings, shop.db):
        created = await initiate(api, shop.key, order_id="t-1", amount="3", currency="XLM")
        assert created["memo"] == memo_text_for(int(created["reference"]))
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "3", memo=TextMemo(created["memo"]))
        await wait_status(shop.db, created["id"], "confirmed")


async def test_right_code_wrong_issuer_is_rejected(watching: Shop) -> None:
    shop = watching
    forger = await shop.network.funded()
    fake_usdc = Asset("USDC", forger.public_key)
    await shop.client.trust(shop.merchant, fake_usdc)  # a merchant who once trusted a scam token
    await shop.client.issue(forger, shop.buyer, fake_usdc, "500")
    created = await initiate(shop.api, shop.key, order_id="fake", amount="100", currency="USDC")
    result = await shop.client.pay(
        shop.buyer, created["destination"], "100", fake_usdc, IdMemo(int(created["memo"]))
    )
    assert result.successful
    receipt = await wait_receipt(shop.db, result.hash)
    assert (receipt.disposition, receipt.reason, receipt.payment_id) == (
        "rejected",
        "asset_mismatch",
        created["id"],
    )
    assert (receipt.asset_code, receipt.asset_issuer) == ("USDC", forger.public_key)
    row = await payment(shop.db, created["id"])
    assert (row.status, row.amount_received) == ("pending", 0)


async def test_failed_transaction_paying_in_full_is_not_counted(watching: Shop) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="f-1", amount="25", currency="XLM")
    failed = await shop.client.pay_in_failed_transaction(
        shop.buyer, created["destination"], "25", memo=IdMemo(int(created["memo"]))
    )
    assert failed.recorded
    assert not failed.successful
    # A later payment on the same stream proves the watcher has read past the failed one.
    marker = await shop.client.pay(shop.buyer, shop.merchant.public_key, "1")
    await wait_receipt(shop.db, marker.hash)
    row = await payment(shop.db, created["id"])
    assert (row.status, row.amount_received) == ("pending", 0)
    assert all(r.transaction_hash != failed.hash for r in await all_receipts(shop.db))


async def test_payment_without_memo_is_an_unmatched_receipt_in_the_api(watching: Shop) -> None:
    shop = watching
    await initiate(shop.api, shop.key, order_id="u-1", amount="25", currency="XLM")
    result = await shop.client.pay(shop.buyer, shop.merchant.public_key, "25")
    receipt = await wait_receipt(shop.db, result.hash)
    assert (receipt.disposition, receipt.reason, receipt.payment_id) == ("unmatched", "no_memo", None)
    response = await shop.api.get("/receipts?unmatched=true", headers={"Authorization": f"Bearer {shop.key}"})
    listed = {r["transaction_hash"]: r for r in (await response.json())["receipts"]}
    assert listed[result.hash]["amount"] == "25.0000000"
    assert listed[result.hash]["reason"] == "no_memo"
    assert all(r["disposition"] == "unmatched" for r in listed.values())


async def test_replayed_stream_records_are_counted_once(shop: Shop) -> None:
    """Rewind the stored cursor to the start (as after a crash between commit and ack) and replay."""
    created = await initiate(shop.api, shop.key, order_id="r-1", amount="5", currency="XLM")
    async with running_watcher(shop.settings, shop.db):
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "2", memo=IdMemo(int(created["memo"])))
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "3", memo=IdMemo(int(created["memo"])))
        await wait_status(shop.db, created["id"], "confirmed")
    key = f"account:{shop.merchant.public_key}"
    first_operation = min(int(r.operation_id) for r in await all_receipts(shop.db))
    async with shop.db.write() as conn:
        stream = await stream_store.get_stream(conn, key)
        assert stream is not None
        await stream_store.advance_cursor(
            conn,
            key,
            cursor=str(first_operation - 1),
            last_ledger=None,
            last_closed_at=None,
            now=stream.updated_at,
        )
    before = len(await all_receipts(shop.db))
    marker = await shop.client.pay(shop.buyer, shop.merchant.public_key, "1")
    async with running_watcher(shop.settings, shop.db):
        await wait_receipt(shop.db, marker.hash)
    assert len(await all_receipts(shop.db)) == before + 1
    row = await payment(shop.db, created["id"])
    assert row.amount_received == 50_000_000
    assert len(await receipts_of(shop.db, created["id"])) == 2


@pytest.mark.slow
async def test_watcher_killed_while_payments_land_confirms_each_once(shop: Shop, tmp_path: Path) -> None:
    """SIGKILL the watcher process at random moments while payments land; after a restart every
    payment is confirmed and every receipt and event exists exactly once."""
    config = tmp_path / "watch.toml"
    config.write_text(config_toml(shop.settings, shop.db_url))
    process = WatcherProcess(config, tmp_path / "watcher.log")
    payments = [
        await initiate(shop.api, shop.key, order_id=f"k-{i}", amount=f"{i + 1}.5", currency="XLM")
        for i in range(36)
    ]
    rng = random.Random(7)

    async def pay_all() -> None:
        for index in range(0, len(payments), 3):
            group = payments[index : index + 3]
            # Three payments in one transaction, to three muxed addresses.
            result = await shop.client.pay_many(
                shop.buyer, [(p["muxed_destination"], p["amount"]) for p in group]
            )
            assert result.successful, result.result_codes
            await asyncio.sleep(rng.uniform(0.0, 0.3))

    async def running() -> bool:
        # Past start-up: the process's heartbeat row carries its pid.
        async with shop.db.read() as conn:
            status = await status_store.get_status(conn)
        return status is not None and process.process is not None and status.pid == process.process.pid

    process.start()
    payer = asyncio.create_task(pay_all())
    kills = 0
    try:
        while not payer.done() or kills < 5:
            await eventually(running, within=30, what="the watcher process to be running")
            await asyncio.sleep(rng.uniform(0.0, 0.5))  # somewhere in the middle of its work
            process.kill()
            kills += 1
            process.start()
        await payer
        for p in payments:
            await wait_status(shop.db, p["id"], "confirmed", within=60)
    finally:
        payer.cancel()
        process.stop()
    assert kills >= 5
    receipts = await all_receipts(shop.db)
    keys = [(r.operation_id, r.part) for r in receipts]
    assert len(keys) == len(set(keys))
    for p in payments:
        (receipt,) = await receipts_of(shop.db, p["id"])
        assert receipt.disposition == "accepted"
    # The pull feed, read through the API page by page: every event once, in id order.
    feed: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await (await shop.api.get(f"/events?after={after}&limit=7", headers=shop.auth())).json()
        if not page["events"]:
            break
        feed += page["events"]
        after = page["next_after"]
    ids = [event["id"] for event in feed]
    assert ids == sorted(set(ids))
    by_payment: dict[str, list[str]] = {}
    for event in feed:
        if event["payment_id"] is not None:
            by_payment.setdefault(event["payment_id"], []).append(event["type"])
    for p in payments:
        assert by_payment[p["id"]] == ["payment.initiated", "payment.funds_received", "payment.confirmed"]


async def test_a_stream_that_repeats_records_counts_each_once(shop: Shop) -> None:
    created = await initiate(shop.api, shop.key, order_id="dup-1", amount="9", currency="XLM")
    memo = IdMemo(int(created["memo"]))
    # Every record is sent twice, on every connection to the merchant's stream.
    shop.network.net.add_fault(
        "repeat", repeat="duplicate", path_prefix=f"/accounts/{shop.merchant.public_key}"
    )
    async with running_watcher(shop.settings, shop.db) as watcher:
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "4", memo=memo)
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo)
        row = await wait_status(shop.db, created["id"], "confirmed")
        (reader,) = watcher.readers.values()
        assert reader.state.repeats >= 2  # the duplicates did arrive, and were dropped
    assert row.amount_received == 90_000_000
    assert len(await receipts_of(shop.db, created["id"])) == 2
    async with shop.db.read() as conn:
        events = [e.type for e in await event_store.for_payment(conn, created["id"])]
    assert events == [
        "payment.initiated",
        "payment.funds_received",
        "payment.funds_received",
        "payment.confirmed",
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_a_new_payment_is_watched_within_a_second(shop: Shop, aiohttp_client: Any) -> None:
    """SPEC §5.3 on SQLite, where polling is the only wake-up: with the default poll interval, a
    payment to a destination nobody watched yet is known to the watcher, and its stream is reading,
    within 1 s of the API being asked to create it."""
    import time

    from shared.config import WatcherSettings
    from watcher.daemon import account_stream_key

    watcher_section = shop.settings.watcher.model_copy(
        update={"poll_interval_seconds": WatcherSettings.model_fields["poll_interval_seconds"].default}
    )
    payments_section = shop.settings.payments.model_copy(update={"allow_any_destination": True})
    settings = shop.settings.model_copy(update={"watcher": watcher_section, "payments": payments_section})
    api = await aiohttp_client(create_app(settings, shop.db))
    known: list[float] = []
    reading: list[float] = []
    async with running_watcher(settings, shop.db) as watcher:
        for index in range(3):
            destination = (await shop.network.funded()).public_key
            asked = time.monotonic()
            created = await initiate(
                api, shop.key, order_id=f"pick-{index}", amount="1", currency="XLM", destination=destination
            )
            await eventually(lambda d=destination: _true(d in watcher.destinations), within=5, what="pickup")
            known.append(time.monotonic() - asked)
            key = account_stream_key(destination)
            await eventually(lambda k=key: _true(k in watcher.readers), within=5, what="its stream")
            reading.append(time.monotonic() - asked)
            await shop.client.pay(shop.buyer, created["muxed_destination"], "1")
            await wait_status(shop.db, created["id"], "confirmed")
    print(
        f"pickup on SQLite (poll {watcher_section.poll_interval_seconds} s): known after "
        f"{', '.join(f'{t * 1000:.0f}' for t in known)} ms; stream reading after "
        f"{', '.join(f'{t * 1000:.0f}' for t in reading)} ms"
    )
    assert max(known) < 1.0
    assert max(reading) < 1.0


async def _true(value: bool) -> bool:
    return value
