"""End-to-end support: a devnet on loopback, funded accounts, a running watcher and API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from stellar_sdk import Asset, IdMemo, Keypair

from devnet import DevNet, serve
from devnet.client import DevnetClient
from shared.config import Settings
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store.engine import Database
from shared.store.payments import PaymentRow
from shared.store.receipts import ReceiptRow
from watcher.daemon import Watcher

T = TypeVar("T")
LEDGER_INTERVAL = 0.05


def missing(message: str, in_ci: str) -> NoReturn:
    """Something a test needs from outside the repository is not here: skip, but fail under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; {in_ci}")
    pytest.skip(message)


async def eventually(check: Callable[[], Awaitable[T | None]], *, within: float = 20.0, what: str = "") -> T:
    """Poll `check` (a store or HTTP read) until it returns a value; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or check}")
        await asyncio.sleep(0.02)


@dataclass
class Network:
    net: DevNet
    url: str
    client: DevnetClient

    async def funded(self) -> Keypair:
        keypair = Keypair.random()
        await self.client.friendbot(keypair.public_key)
        return keypair


@asynccontextmanager
async def devnet_network(ledger_interval: float = LEDGER_INTERVAL, **options: Any) -> AsyncIterator[Network]:
    net = DevNet(ledger_interval=ledger_interval)
    async with serve(net, "127.0.0.1", 0, **options) as url, DevnetClient(url, net.passphrase) as client:
        yield Network(net, url, client)


@asynccontextmanager
async def running_watcher(settings: Settings, db: Database) -> AsyncIterator[Watcher]:
    watcher = Watcher(settings, db)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    ready = asyncio.create_task(watcher.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raise what stopped it
    if not done:
        stop.set()
        ready.cancel()
        await asyncio.wait_for(task, timeout=30)
        raise AssertionError("the watcher did not report READY within 60 s")
    try:
        yield watcher
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def payment(db: Database, payment_id: str) -> PaymentRow:
    async with db.read() as conn:
        row = await payment_store.get_payment(conn, payment_id)
    assert row is not None
    return row


async def receipts_of(db: Database, payment_id: str) -> list[ReceiptRow]:
    async with db.read() as conn:
        return await receipt_store.for_payment(conn, payment_id)


async def all_receipts(db: Database) -> list[ReceiptRow]:
    async with db.read() as conn:
        return await receipt_store.list_receipts(conn, limit=100_000)


async def wait_status(db: Database, payment_id: str, status: str, within: float = 20.0) -> PaymentRow:
    async def check() -> PaymentRow | None:
        row = await payment(db, payment_id)
        return row if row.status == status else None

    return await eventually(check, within=within, what=f"{payment_id} to become {status}")


async def wait_receipt(db: Database, transaction_hash: str, within: float = 20.0) -> ReceiptRow:
    async def check() -> ReceiptRow | None:
        for receipt in await all_receipts(db):
            if receipt.transaction_hash == transaction_hash:
                return receipt
        return None

    return await eventually(check, within=within, what=f"a receipt for {transaction_hash}")


async def initiate(api: TestClient[Any, Any], key: str, **body: Any) -> dict[str, Any]:
    response = await api.post("/payments/initiate", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status == 201, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def paid_through_api(
    http: aiohttp.ClientSession, api_url: str, network: Network, buyer: Keypair, db: Database, **body: Any
) -> dict[str, Any]:
    """Create a payment with a running API over HTTP (`http` carries the key), pay it with its memo
    from `buyer`, and wait until the watcher has confirmed it."""
    async with http.post(f"{api_url}/payments/initiate", json=body) as response:
        assert response.status == 201, await response.text()
        created: dict[str, Any] = await response.json()
    await network.client.pay(
        buyer, created["destination"], created["amount"], memo=IdMemo(int(created["memo"]))
    )
    await wait_status(db, created["id"], "confirmed")
    return created


def usdc(issuer: Keypair) -> Asset:
    return Asset("USDC", issuer.public_key)


def config_toml(settings: Settings, db_url: str) -> str:
    """A config file for a watcher subprocess equal to `settings`."""
    accounts = "\n".join(
        f'[[accounts]]\naddress = "{a.address}"\ndefault = {str(a.default).lower()}\n'
        for a in settings.accounts
    )
    assets = "\n".join(
        f"[assets.{name}]\nnative = true\n"
        if a.native
        else f'[assets.{name}]\ncode = "{a.code}"\nissuer = "{a.issuer}"\n'
        for name, a in settings.assets.items()
    )
    w = settings.watcher
    hooks = "".join(
        f'[[webhooks]]\nname = "{hook.name}"\nurl = "{hook.url}"\nsecret = "{hook.secret.get_secret_value()}"\n'
        f"events = {json.dumps(hook.events)}\nmax_in_flight = {hook.max_in_flight}\n"
        for hook in settings.webhooks
    )
    delivery = settings.webhook_delivery
    return (
        hooks
        + f"""
[webhook_delivery]
retry_schedule_seconds = {json.dumps(delivery.retry_schedule_seconds)}
poll_interval_seconds = {delivery.poll_interval_seconds}
timeout_seconds = {delivery.timeout_seconds}

[network]
name = "custom"
passphrase = "{settings.network.passphrase}"
horizon_urls = {json.dumps(list(settings.network.horizon_urls))}
[database]
url = "{db_url}"
{accounts}
{assets}
[watcher]
mode = "{w.mode}"
request_budget_per_hour = {w.request_budget_per_hour}
poll_interval_seconds = {w.poll_interval_seconds}
heartbeat_seconds = {w.heartbeat_seconds}
backfill_margin_seconds = {w.backfill_margin_seconds}
stream_silence_seconds = {w.stream_silence_seconds}
reconnect_max_seconds = {w.reconnect_max_seconds}
expiry_check_seconds = {w.expiry_check_seconds}
not_found_retry_seconds = {w.not_found_retry_seconds}
leader_lease_seconds = {w.leader_lease_seconds}
metrics_port = 0
[logging]
level = "info"
format = "json"
"""
    )


class WatcherProcess:
    """`paywatch watch` as a real process, to be killed with SIGKILL and restarted."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "paywatch.cli", "watch", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)
