"""The watcher under faults, in network and auto mode, with new destinations, and reconcile (issue 5).

Every fault comes from the devnet (it misbehaves on the wire like Horizon can); every test ends with
the payments in the right state. All run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import delete
from stellar_sdk import IdMemo, Keypair

from api.app import create_app
from devnet import DevNet, serve
from devnet.client import DevnetClient
from shared.config import AccountSettings
from shared.store import events as event_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from shared.store.schema import receipts as receipts_table
from tests.conftest import Shop, make_settings
from tests.support import (
    eventually,
    initiate,
    payment,
    receipts_of,
    running_watcher,
    wait_receipt,
    wait_status,
)
from watcher.daemon import NETWORK, choose_mode
from watcher.reconcile import reconcile


def settings_with(shop: Shop, **watcher: Any) -> Any:
    section = type(shop.settings.watcher).model_validate({**shop.settings.watcher.model_dump(), **watcher})
    return shop.settings.model_copy(update={"watcher": section})


def memo_of(created: dict[str, Any]) -> IdMemo:
    return IdMemo(int(created["memo"]))


def merchant_stream(shop: Shop) -> str:
    return f"/accounts/{shop.merchant.public_key}"


async def pay_and_confirm(shop: Shop, order: str, amount: str = "5") -> dict[str, Any]:
    created = await initiate(shop.api, shop.key, order_id=order, amount=amount, currency="XLM")
    await shop.client.pay(shop.buyer, shop.merchant.public_key, amount, memo=memo_of(created))
    await wait_status(shop.db, created["id"], "confirmed")
    return created


def _true(value: bool) -> Any:
    async def check() -> bool:
        return value

    return check()


# --- one test per fault ------------------------------------------------------------------------------


async def test_failover_to_the_next_horizon(shop: Shop) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens there: connections are refused
    settings = shop.settings.model_copy(
        update={
            "network": shop.settings.network.model_copy(update={"horizon_urls": [dead, shop.network.url]})
        }
    )
    async with running_watcher(settings, shop.db) as watcher:
        await pay_and_confirm(shop, "failover")
        assert watcher.horizon.base_url == shop.network.url


async def test_a_silent_stream_is_dead_and_reopened(shop: Shop) -> None:
    shop.network.net.add_fault("stall", path_prefix=merchant_stream(shop), count=1)
    async with running_watcher(settings_with(shop, stream_silence_seconds=0.5), shop.db) as watcher:
        await pay_and_confirm(shop, "stall")
        (reader,) = watcher.readers.values()
        assert reader.state.errors >= 1
        assert reader.state.connects >= 2


async def test_an_account_without_history_is_retried_quietly(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = await _unfunded(shop)
    settings = shop.settings.model_copy(
        update={"accounts": [*shop.settings.accounts, AccountSettings(address=fresh.public_key)]}
    )
    async with running_watcher(settings, shop.db) as watcher:
        key = f"account:{fresh.public_key}"
        await eventually(
            lambda: _true(key in watcher.readers and watcher.readers[key].state.errors >= 4),
            what="404 retries",
        )
        await shop.client.friendbot(fresh.public_key)
        await eventually(
            lambda: _true(watcher.readers[key].state.records >= 1), what="the new account's history"
        )
    assert capsys.readouterr().out.count("account has no history") == 1  # logged once, not per retry


async def _unfunded(shop: Shop) -> Keypair:
    del shop
    return Keypair.random()


async def test_429_waits_as_told(shop: Shop) -> None:
    """One 429 with `Retry-After: 3`, where the reconnect backoff alone would wait about 0.25 s: the
    devnet's request log shows the next connection to that stream came at least 3 s after it."""
    retry_after = 3
    shop.network.net.add_fault(
        "status", status=429, retry_after=retry_after, path_prefix=merchant_stream(shop), count=1
    )
    async with running_watcher(shop.settings, shop.db) as watcher:
        await pay_and_confirm(shop, "429")
        (reader,) = watcher.readers.values()
    assert reader.state.errors >= 1
    connections = shop.network.net.request_counts.requests(merchant_stream(shop), stream=True)
    (refused,) = [i for i, entry in enumerate(connections) if entry.refused == 429]
    waited = connections[refused + 1].at - connections[refused].at
    assert retry_after <= waited < retry_after + 5, waited


async def test_503_for_a_while(shop: Shop) -> None:
    shop.network.net.add_fault(
        "status", status=503, retry_after=None, path_prefix=merchant_stream(shop), duration_seconds=1.0
    )
    async with running_watcher(shop.settings, shop.db) as watcher:
        await pay_and_confirm(shop, "503")
        (reader,) = watcher.readers.values()
        assert reader.state.errors >= 1


async def test_event_error_on_the_stream(shop: Shop) -> None:
    """Horizon's budget runs out mid-stream: `event: error` with the rate-limit problem, then close."""
    async with running_watcher(shop.settings, shop.db) as watcher:
        await eventually(lambda: _true(bool(watcher.readers)), what="the stream to start")
        (reader,) = watcher.readers.values()
        await eventually(lambda: _true(reader.state.connected), what="the stream")
        shop.network.net.set_rate_limit(per_hour=3600, burst=2)  # 1/s: a 50 ms-ledger stream exhausts it
        await eventually(
            lambda: _true("stream error" in (reader.state.last_error or "")), what="an error event"
        )
        shop.network.net.disable_rate_limit()
        await pay_and_confirm(shop, "event-error")


@pytest.mark.parametrize("garbage", ["invalid_json", "missing_field", "malformed_line", "bytes"])
async def test_garbage_on_the_stream_loses_nothing(shop: Shop, garbage: str) -> None:
    """A record garbled in transit is read again from Horizon; the payment is confirmed all the same."""
    created = await initiate(shop.api, shop.key, order_id=f"g-{garbage}", amount="5", currency="XLM")
    await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(created))
    # The fault hits the watcher's first connection: the first record after hello is garbled (a
    # field every record has is removed), or an id-less garbage line comes before it.
    shop.network.net.add_fault(
        "garbage", garbage=garbage, missing_field="created_at", path_prefix=merchant_stream(shop), count=1
    )
    async with running_watcher(shop.settings, shop.db) as watcher:
        await wait_status(shop.db, created["id"], "confirmed")
        # A damaged record is read again from Horizon, not parked; id-less garbage is simply skipped.
        assert watcher.ingestor.refetched == (1 if garbage == "missing_field" else 0)
    assert await _poison_count(shop.db) == 0


async def _poison_count(db: Database) -> int:
    from sqlalchemy import func, select

    from shared.store.schema import poison_records

    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(poison_records))).scalar_one())


async def test_a_record_malformed_on_horizon_itself_is_kept_as_poison(
    db: Database, db_url: str, aiohttp_server: Any
) -> None:
    """Horizon's own copy is broken too: the record is parked as poison and the stream goes on."""
    from shared.apply import context_from_settings
    from shared.stellar.horizon import HorizonClient
    from watcher.ingest import Ingestor
    from watcher.streams import StreamRecord

    token = str((7 << 32) | (1 << 12) | 1)

    async def operation(request: web.Request) -> web.Response:
        return web.json_response({"id": token, "paging_token": token, "type": "payment"})  # no fields

    app = web.Application()
    app.router.add_get("/operations/{op_id}", operation)
    server = await aiohttp_server(app)
    account = Keypair.random().public_key
    settings = make_settings(db_url, [account], horizon_url=str(server.make_url("")))
    async with db.write() as conn:
        await stream_store.create_stream(conn, f"account:{account}", "0", _now())
    import aiohttp

    async with aiohttp.ClientSession() as session:
        horizon = HorizonClient([str(server.make_url("")).rstrip("/")], session)
        ingestor = Ingestor(
            db, context_from_settings(settings), horizon, asyncio.Queue(), lambda _key: {account}
        )
        await ingestor.apply_batch([StreamRecord(f"account:{account}", token, '{"id": "broken"')])
    assert await _poison_count(db) == 1
    async with db.read() as conn:
        row = await stream_store.get_stream(conn, f"account:{account}")
    assert row is not None
    assert row.cursor == token  # handled (kept for review), so the stream moves on


def _now() -> Any:
    from shared.clock import utcnow

    return utcnow()


async def test_a_cursor_ahead_of_the_network_is_reported_without_spinning(shop: Shop) -> None:
    for _ in range(300):  # a long-lived network: the old cursor ends up far ahead after the reset
        await shop.network.net.close_ledger()
    async with running_watcher(settings_with(shop, heartbeat_seconds=0.1), shop.db) as watcher:
        await pay_and_confirm(shop, "before-reset")
        await shop.network.net.reset()  # a testnet reset: ledgers start again from 1
        (reader,) = watcher.readers.values()  # started: a payment was confirmed through it
        await eventually(lambda: _true(reader.state.cursor_ahead), what="the reset to be noticed")
        await asyncio.sleep(2)  # measure a window: no reconnect storm against a network that moved back
        assert shop.network.net.request_counts.budget_spent(seconds=2) <= 80  # ~40 ledgers in 2 s
    async with shop.db.read() as conn:
        row = await stream_store.get_stream(conn, f"account:{shop.merchant.public_key}")
    assert row is not None
    assert "ahead" in (row.last_error or "")


# --- modes -------------------------------------------------------------------------------------------


async def test_network_mode_one_stream_for_every_destination(shop: Shop, aiohttp_client: Any) -> None:
    second = await shop.network.funded()
    settings = settings_with(shop, mode="network").model_copy(
        update={"accounts": [*shop.settings.accounts, AccountSettings(address=second.public_key)]}
    )
    api = await aiohttp_client(create_app(settings, shop.db))
    async with running_watcher(settings, shop.db) as watcher:
        assert list(watcher.readers) == [NETWORK]
        first = await initiate(api, shop.key, order_id="n-1", amount="5", currency="XLM")
        other = await initiate(
            api, shop.key, order_id="n-2", amount="3", currency="XLM", destination=second.public_key
        )
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "5", memo=memo_of(first))
        await shop.client.pay(shop.buyer, other["muxed_destination"], "3")
        await wait_status(shop.db, first["id"], "confirmed")
        await wait_status(shop.db, other["id"], "confirmed")
    async with shop.db.read() as conn:
        network = await stream_store.get_stream(conn, NETWORK)
    assert network is not None
    assert int(network.cursor) > 0


async def test_switching_modes_while_payments_land_loses_and_doubles_nothing(shop: Shop) -> None:
    created = [
        await initiate(shop.api, shop.key, order_id=f"sw-{i}", amount=f"{i + 1}", currency="XLM")
        for i in range(24)
    ]
    async with running_watcher(shop.settings, shop.db) as watcher:

        async def pay_all() -> None:
            for item in created:
                await shop.client.pay(shop.buyer, item["muxed_destination"], item["amount"])

        payer = asyncio.create_task(pay_all())
        await eventually(lambda: _confirmed_at_least(shop.db, created, 6), what="some payments")
        await watcher.switch_mode("network")
        assert list(watcher.readers) == [NETWORK]
        await asyncio.sleep(random.uniform(0.2, 0.5))
        await watcher.switch_mode("accounts")
        await watcher.switch_mode("network")
        await payer
        for item in created:
            await wait_status(shop.db, item["id"], "confirmed")
        assert watcher.switches == 3
    for item in created:
        assert len(await receipts_of(shop.db, item["id"])) == 1
        async with shop.db.read() as conn:
            types = [e.type for e in await event_store.for_payment(conn, item["id"])]
        assert types == ["payment.initiated", "payment.funds_received", "payment.confirmed"]


async def _confirmed_at_least(db: Database, created: list[dict[str, Any]], count: int) -> bool:
    statuses = [(await payment(db, item["id"])).status for item in created]
    return statuses.count("confirmed") >= count


def test_auto_mode_keeps_streams_within_the_budget() -> None:
    assert choose_mode("accounts", 1, 720, 3600) == "accounts"
    assert choose_mode("accounts", 4, 720, 3600) == "network"  # 2880 > 70 % of 3600
    assert choose_mode("network", 3, 720, 3600) == "network"  # hysteresis: 2160 is not below 35 %
    assert choose_mode("network", 1, 720, 3600) == "accounts"
    assert choose_mode("accounts", 1, 72_000, 3600) == "network"  # a fast network costs more per stream


@pytest.mark.slow
async def test_auto_mode_moves_to_the_network_stream_when_ledgers_are_fast(shop: Shop) -> None:
    """50 ms ledgers make one account stream cost ~72,000 requests/hour: more than the budget."""
    async with running_watcher(settings_with(shop, mode="auto", heartbeat_seconds=0.2), shop.db) as watcher:
        assert watcher.mode == "accounts"  # 720/h assumed until the pace is measured
        await eventually(
            lambda: _true(watcher.mode == "network" and NETWORK in watcher.readers),
            within=30,
            what="the switch",
        )
        await pay_and_confirm(shop, "auto")


async def test_a_new_destination_is_backfilled_from_its_payment(shop: Shop, aiohttp_client: Any) -> None:
    """allow_any_destination: a payment to an account nobody watched, paid while the watcher was down."""
    elsewhere = await shop.network.funded()
    payments_section = shop.settings.payments.model_copy(update={"allow_any_destination": True})
    for mode in ("accounts", "network"):
        settings = settings_with(shop, mode=mode).model_copy(update={"payments": payments_section})
        api = await aiohttp_client(create_app(settings, shop.db))
        created = await initiate(
            api,
            shop.key,
            order_id=f"any-{mode}",
            amount="4",
            currency="XLM",
            destination=elsewhere.public_key,
        )
        await shop.client.pay(
            shop.buyer, elsewhere.public_key, "4", memo=memo_of(created)
        )  # before any stream
        async with running_watcher(settings, shop.db):
            await wait_status(shop.db, created["id"], "confirmed")
            live = await initiate(
                api,
                shop.key,
                order_id=f"any-live-{mode}",
                amount="2",
                currency="XLM",
                destination=(await shop.network.funded()).public_key,
            )
            await shop.client.pay(
                shop.buyer, live["destination"], "2", memo=memo_of(live)
            )  # races the watcher
            await wait_status(shop.db, live["id"], "confirmed")


@pytest.mark.slow
async def test_a_thousand_destinations_stay_within_the_request_budget(db: Database, db_url: str) -> None:
    """Counted at the devnet: requests/hour with 1,000 receiving accounts, in auto mode."""
    net = DevNet(ledger_interval=0.5)  # 7,200 ledgers/hour: one stream alone costs 7,200 requests/hour
    budget = 12_000
    accounts = [Keypair.random().public_key for _ in range(1000)]
    async with serve(net, "127.0.0.1", 0) as url, DevnetClient(url, net.passphrase):
        settings = make_settings(
            db_url,
            accounts,
            horizon_url=url,
            passphrase=net.passphrase,
            watcher={"mode": "auto", "request_budget_per_hour": budget, "heartbeat_seconds": 1},
        )
        started = time.monotonic()
        async with running_watcher(settings, db) as watcher:
            startup = net.request_counts.budget_spent()
            assert watcher.mode == "network"
            await eventually(lambda: _true(len(watcher.followers) == 1000), what="all destinations followed")
            window = 10.0
            await asyncio.sleep(window)  # measuring a rate over a fixed window
            spent = net.request_counts.budget_spent(seconds=window)
        per_hour = spent * 3600 / window
        print(
            f"1000 destinations: startup {startup} requests in {time.monotonic() - started:.1f}s, steady {per_hour:.0f}/h"
        )
        assert per_hour <= budget
        assert startup < 50  # no per-destination positioning or backfill requests


# --- reconcile -----------------------------------------------------------------------------------------


async def test_reconcile_finds_a_deleted_receipt_and_repair_restores_it(shop: Shop) -> None:
    async with running_watcher(shop.settings, shop.db):
        stray = await shop.client.pay(shop.buyer, shop.merchant.public_key, "3")  # no memo: unmatched
        before = await wait_receipt(shop.db, stray.hash)
        await pay_and_confirm(shop, "rec")
    async with shop.db.write() as conn:  # behind the store's back
        await conn.execute(delete(receipts_table).where(receipts_table.c.id == before.id))
    since = before.closed_at.replace(microsecond=0)
    from datetime import timedelta

    from shared.apply import context_from_settings

    ctx = context_from_settings(shop.settings)
    accounts = shop.settings.account_addresses
    audit = await reconcile(
        shop.db, _horizon(shop), ctx, accounts=accounts, since=since - timedelta(seconds=5)
    )
    assert [(f.kind, f.credit.transaction_hash) for f in audit.findings] == [("missing", stray.hash)]
    fixed = await reconcile(
        shop.db, _horizon(shop), ctx, accounts=accounts, since=since - timedelta(seconds=5), repair=True
    )
    assert [f.repaired for f in fixed.findings] == [True]
    restored = await wait_receipt(shop.db, stray.hash)
    assert (restored.operation_id, restored.disposition, restored.amount) == (
        before.operation_id,
        "unmatched",
        before.amount,
    )
    clean = await reconcile(
        shop.db, _horizon(shop), ctx, accounts=accounts, since=since - timedelta(seconds=5)
    )
    assert clean.findings == []
    assert clean.operations >= 2


async def test_reconcile_reports_a_receipt_recorded_differently_and_repair_leaves_it(shop: Shop) -> None:
    """A stored receipt whose amount no longer matches Horizon is reported as `differs`; `repair` does
    not rewrite it (its payment's totals and events were built on it: a person must look)."""
    from datetime import timedelta

    from sqlalchemy import update

    from shared.apply import context_from_settings

    async with running_watcher(shop.settings, shop.db):
        paid = await pay_and_confirm(shop, "differs", amount="4")
    (receipt,) = await receipts_of(shop.db, paid["id"])
    async with shop.db.write() as conn:  # behind the store's back
        await conn.execute(
            update(receipts_table).where(receipts_table.c.id == receipt.id).values(amount=receipt.amount + 1)
        )
    ctx = context_from_settings(shop.settings)
    since = receipt.closed_at - timedelta(seconds=5)
    for repair in (False, True):
        audit = await reconcile(
            shop.db, _horizon(shop), ctx, accounts=shop.settings.account_addresses, since=since, repair=repair
        )
        # The shop's accounts were funded moments before (ledgers close every 50 ms): their
        # create_account credits may fall inside the window, unrecorded; only ours can differ.
        (finding,) = [f for f in audit.findings if f.credit.operation_id == receipt.operation_id]
        others = [f for f in audit.findings if f is not finding]
        assert all((f.kind, f.credit.operation_type) == ("missing", "create_account") for f in others)
        assert (finding.kind, finding.repaired) == ("differs", False)
        assert finding.detail == f"amount is {receipt.amount + 1}, Horizon says {receipt.amount}"
        # The payment's amount_received is no longer the sum of its receipts: reported as well.
        assert audit.inconsistent == [(paid["id"], receipt.amount, receipt.amount + 1)]
        assert not audit.clean
    (kept,) = await receipts_of(shop.db, paid["id"])
    assert kept.amount == receipt.amount + 1  # --repair left it for a person
    assert (await payment(shop.db, paid["id"])).amount_received == receipt.amount


def _horizon(shop: Shop) -> Any:
    from shared.stellar.horizon import HorizonClient

    return HorizonClient([shop.network.url], shop.client.session)


async def test_reconcile_command_exit_status(shop: Shop, tmp_path: Any) -> None:
    from tests.support import config_toml

    async with running_watcher(shop.settings, shop.db):
        stray = await shop.client.pay(shop.buyer, shop.merchant.public_key, "2")
        receipt = await wait_receipt(shop.db, stray.hash)
        paid = await pay_and_confirm(shop, "cli")
    async with shop.db.write() as conn:
        await conn.execute(delete(receipts_table).where(receipts_table.c.id == receipt.id))
    config = tmp_path / "paywatch.toml"
    config.write_text(config_toml(shop.settings, shop.db_url))

    async def run(*extra: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *_cli(),
            "reconcile",
            "--config",
            str(config),
            "--since",
            "10m",
            *extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode()

    status, out = await run()
    assert status == 3, out
    assert f"missing: operation {receipt.operation_id}/0" in out
    status, out = await run("--repair")
    assert status == 0, out
    assert "1 missing (1 repaired)" in out
    assert (await run())[0] == 0
    # A payment whose money has no receipt any more is reported, never "repaired" twice.
    (kept,) = await receipts_of(shop.db, paid["id"])
    async with shop.db.write() as conn:
        await conn.execute(delete(receipts_table).where(receipts_table.c.id == kept.id))
    status, out = await run("--repair")
    assert status == 3, out
    assert f"inconsistent: payment {paid['id']}" in out


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "paywatch.cli"]
