"""The chaos scenario: one deterministic script of payments, run undisturbed or under chaos.

A script is a list of intents (what an order service and its buyers do). `execute` performs it on a
devnet through the real API and real signed transactions; `snapshot` reduces the store to what must
not depend on timing — per intent: status, amounts, flags, the receipts of the script's own
transactions and the event sequence — so that two runs of the same script can be compared.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from stellar_sdk import Asset, IdMemo, Keypair

from shared.clock import utcnow
from shared.store import events as event_store
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store.engine import Database
from tests.support import Network

KINDS = {  # kind → weight
    "memo": 4,
    "muxed": 4,
    "split": 2,
    "overpaid": 2,
    "underpaid": 1,
    "timeout": 1,
    "late": 1,
    "forged_asset": 1,
    "no_memo": 1,
    "path": 1,
    "contract": 1,
}
SHORT_WINDOW = timedelta(seconds=4)  # underpaid/timeout intents expire this long after creation


@dataclass(frozen=True)
class Intent:
    index: int
    kind: str
    amount: str
    currency: str
    merchant: int  # which receiving account
    buyer: int


def plan(size: int, seed: int, *, buyers: int) -> list[Intent]:
    rng = random.Random(seed)
    kinds = [kind for kind, weight in KINDS.items() for _ in range(weight)]
    intents = []
    for index in range(size):
        kind = rng.choice(kinds)
        amount = str(Decimal(rng.randint(10, 5000)) / 100)
        currency = "USDC" if kind in ("muxed", "forged_asset", "path", "contract") else "XLM"
        intents.append(Intent(index, kind, amount, currency, rng.randrange(2), index % buyers))
    return intents


@dataclass
class World:
    network: Network
    db: Database
    api: TestClient[Any, Any]
    key: str
    merchants: list[Keypair]
    buyers: list[Keypair]
    issuer: Keypair
    forger: Keypair
    shift_clock: Callable[[timedelta], None]
    clock_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one shifted initiate at a time
    hashes: dict[str, tuple[int, int]] = field(default_factory=dict)  # tx hash → (intent, step)
    payments: dict[int, str] = field(default_factory=dict)  # intent → payment id

    @property
    def usdc(self) -> Asset:
        return Asset("USDC", self.issuer.public_key)

    @property
    def fake_usdc(self) -> Asset:
        return Asset("USDC", self.forger.public_key)


# Friendbot gives 10,000 XLM; a buyer spends about 25 XLM per intent on average (native and path
# payments), so each buyer gets another friendbot's worth from a spare account per this many intents.
INTENTS_PER_TOP_UP = 250


async def fund_world(
    network: Network, buyers: int, intents: int
) -> tuple[list[Keypair], list[Keypair], Keypair, Keypair]:
    merchants = [await network.funded() for _ in range(2)]
    issuer, forger = await network.funded(), await network.funded()
    payers = [await network.funded() for _ in range(buyers)]
    client = network.client
    for _ in range(intents // buyers // INTENTS_PER_TOP_UP):
        for payer in payers:
            spare = await network.funded()
            topped_up = await client.pay(spare, payer.public_key, "9990")
            assert topped_up.successful, topped_up.result_codes
    for merchant in merchants:
        await client.trust(merchant, Asset("USDC", issuer.public_key))
        await client.trust(merchant, Asset("USDC", forger.public_key))  # it once trusted a scam token
    for payer in payers:
        await client.issue(issuer, payer, Asset("USDC", issuer.public_key), "1000000")
        await client.issue(forger, payer, Asset("USDC", forger.public_key), "1000000")
    network.net.set_rate(Asset.native(), Asset("USDC", issuer.public_key), 1, 2)  # 2 XLM buy 1 USDC
    return merchants, payers, issuer, forger


async def _initiate(
    world: World, intent: Intent, shift: timedelta, timeout_minutes: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": f"chaos-{intent.index}",
        "amount": intent.amount,
        "currency": intent.currency,
        "destination": world.merchants[intent.merchant].public_key,
    }
    if timeout_minutes is not None:
        body["timeout_minutes"] = timeout_minutes
    async with world.clock_lock:
        world.shift_clock(shift)
        try:
            response = await world.api.post(
                "/payments/initiate", json=body, headers={"Authorization": f"Bearer {world.key}"}
            )
        finally:
            world.shift_clock(timedelta(0))
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    world.payments[intent.index] = created["id"]
    return created


async def perform(world: World, intent: Intent) -> None:
    """One intent: create its payment through the API, then pay it as the kind says."""
    client = world.network.client
    buyer = world.buyers[intent.buyer]
    merchant = world.merchants[intent.merchant].public_key
    amount = Decimal(intent.amount)
    kind = intent.kind
    if kind in ("underpaid", "timeout"):
        # A one-minute window created 56 s in the past: it ends SHORT_WINDOW from now.
        created = await _initiate(world, intent, -(timedelta(minutes=1) - SHORT_WINDOW), timeout_minutes=1)
    elif kind == "late":
        created = await _initiate(world, intent, -timedelta(minutes=2), timeout_minutes=1)  # expired already
    else:
        created = await _initiate(world, intent, timedelta(0))
    memo = IdMemo(int(created["memo"]))
    steps: list[Any] = []
    if kind in ("memo", "overpaid", "late"):
        paid = amount * Decimal("1.2") if kind == "overpaid" else amount
        steps.append(client.pay(buyer, merchant, str(paid), memo=memo))
    elif kind == "muxed":
        steps.append(client.pay(buyer, created["muxed_destination"], intent.amount, world.usdc))
    elif kind == "split":
        first = (amount * Decimal("0.4")).quantize(Decimal("0.0000001"))
        steps += [
            client.pay(buyer, merchant, str(first), memo=memo),
            client.pay(buyer, merchant, str(amount - first), memo=memo),
        ]
    elif kind == "underpaid":
        steps.append(client.pay(buyer, merchant, str(amount / 2), memo=memo))
    elif kind == "forged_asset":
        steps.append(client.pay(buyer, merchant, intent.amount, world.fake_usdc, memo))
    elif kind == "no_memo":
        steps.append(client.pay(buyer, merchant, intent.amount))
    elif kind == "path":
        steps.append(
            client.path_pay_strict_receive(
                buyer, merchant, Asset.native(), str(amount * 3), world.usdc, intent.amount, memo=memo
            )
        )
    for step, coroutine in enumerate(steps):
        result = await coroutine
        assert result.successful, (intent, result.result_codes)
        world.hashes[result.hash] = (intent.index, step)
    if kind == "contract":
        injected = await client.contract_transfer(
            buyer.public_key, created["muxed_destination"], world.usdc, intent.amount
        )
        world.hashes[injected["hash"]] = (intent.index, 0)


async def execute(world: World, intents: list[Intent]) -> None:
    """Every buyer works through its own intents in order; buyers run at the same time."""

    async def buyer_queue(buyer: int) -> None:
        for intent in intents:
            if intent.buyer == buyer:
                await perform(world, intent)

    await asyncio.gather(*(buyer_queue(b) for b in range(len(world.buyers))))


EXPECTED_STATUS = {
    "memo": "confirmed",
    "muxed": "confirmed",
    "split": "confirmed",
    "overpaid": "confirmed",
    "underpaid": "failed",
    "timeout": "timeout",
    "late": "timeout",
    "forged_asset": "pending",
    "no_memo": "pending",
    "path": "confirmed",
    "contract": "confirmed",
}


async def snapshot(world: World) -> dict[int, dict[str, Any]]:
    """What must be the same in every run of the script, per intent."""
    result: dict[int, dict[str, Any]] = {}
    # A few whole-table reads, not queries per payment: on SQLite the store runs on the event loop
    # that also renews run A's watcher lease, and thousands of queries would starve it.
    async with world.db.read() as conn:
        everything = await receipt_store.list_receipts(conn, limit=1_000_000)
        rows = {row.id: row for row in await payment_store.list_payments(conn, limit=1_000_000)}
        event_types: dict[str | None, list[str]] = {}
        for event in await event_store.list_events(conn, limit=10_000_000):
            event_types.setdefault(event.payment_id, []).append(event.type)
    for index, payment_id in sorted(world.payments.items()):
        row = rows[payment_id]
        events = event_types.get(payment_id, [])
        result[index] = {
            "status": row.status,
            "failure_reason": row.failure_reason,
            "amount_received": row.amount_received,
            "amount_late": row.amount_late,
            "flags": (row.flag_late, row.flag_overpaid, row.flag_manual),
            "events": events,
            "receipts": [],
        }
    for receipt in everything:
        owner = world.hashes.get(receipt.transaction_hash)
        if owner is None:
            continue  # setup transactions (funding, trustlines) are not part of the script
        index, step = owner
        result[index]["receipts"].append(
            (
                step,
                receipt.part,
                receipt.operation_type,
                receipt.disposition,
                receipt.reason,
                receipt.amount,
                receipt.asset_code,
            )
        )
    for entry in result.values():
        entry["receipts"].sort(key=repr)
    return result


async def statuses_reached(world: World, intents: list[Intent]) -> bool:
    """A cheap necessary condition for `settled` (one GROUP BY), checked before a full snapshot."""
    wanted: dict[str, int] = {}
    for intent in intents:
        wanted[EXPECTED_STATUS[intent.kind]] = wanted.get(EXPECTED_STATUS[intent.kind], 0) + 1
    async with world.db.read() as conn:
        counts = await payment_store.count_by_status(conn)
    return counts == wanted


def settled(shot: dict[int, dict[str, Any]], intents: list[Intent]) -> bool:
    """Every intent has reached the state its kind leads to (and received its receipts)."""
    for intent in intents:
        entry = shot.get(intent.index)
        if entry is None or entry["status"] != EXPECTED_STATUS[intent.kind]:
            return False
        wanted_receipts = 2 if intent.kind == "split" else 1
        if intent.kind != "timeout" and len(entry["receipts"]) < wanted_receipts:
            return False
    return True


def now() -> datetime:
    return utcnow()
