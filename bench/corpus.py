"""A synthetic but Horizon-shaped corpus: payment records cloned from real devnet records.

Templates come from a devnet run (so keys, key order and types are Horizon's); the corpus mutates
only the fields a watcher reads: ids/paging tokens (increasing TOIDs), hashes, destinations, muxed
ids, amounts, assets, memos, ledgers and close times. The mix covers every way money arrives:
memo, muxed, unmatched (no memo / unknown reference), wrong asset, partial and overpaid payments.
"""

from __future__ import annotations

import copy
import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stellar_sdk import Asset, IdMemo, Keypair, MuxedAccount

from devnet import DevNet, serve
from devnet.client import DevnetClient
from shared.domain.amounts import format_amount
from shared.domain.references import new_reference

MIX = {"memo": 30, "muxed": 25, "partial": 10, "overpaid": 10, "unmatched": 15, "wrong_asset": 10}


@dataclass(frozen=True)
class PendingPayment:
    destination: str
    reference: int
    amount: int  # stroops
    currency: str


@dataclass
class Corpus:
    destinations: list[str]
    usdc_issuer: str
    payments: list[PendingPayment]
    records: list[tuple[int, str, dict[str, Any]]] = field(
        default_factory=list
    )  # (token, destination, record)

    def sse(self, destination: str | None = None) -> list[tuple[int, bytes]]:
        """Pre-rendered SSE frames (network stream, or one account's)."""
        return [
            (token, f"id: {token}\ndata: {json.dumps(record, separators=(',', ':'))}\n\n".encode())
            for token, to, record in self.records
            if destination is None or to == destination
        ]


async def templates() -> tuple[dict[str, Any], dict[str, Any], str]:
    """A native payment with an id memo and a USDC payment to a muxed address, from a devnet."""
    net = DevNet(ledger_interval=0.05)
    async with serve(net, "127.0.0.1", 0) as url, DevnetClient(url, net.passphrase) as client:
        merchant, buyer, issuer = Keypair.random(), Keypair.random(), Keypair.random()
        for account in (merchant, buyer, issuer):
            await client.friendbot(account.public_key)
        usdc = Asset("USDC", issuer.public_key)
        await client.trust(merchant, usdc)
        await client.issue(issuer, buyer, usdc, "1000")
        memo_paid = await client.pay(buyer, merchant.public_key, "1", memo=IdMemo(7))
        muxed = MuxedAccount(merchant.public_key, 9).account_muxed
        muxed_paid = await client.pay(buyer, str(muxed), "1", usdc)
        native = await client.get_json(f"/transactions/{memo_paid.hash}/payments", join="transactions")
        credit = await client.get_json(f"/transactions/{muxed_paid.hash}/payments", join="transactions")
    return native["_embedded"]["records"][0], credit["_embedded"]["records"][0], issuer.public_key


def build(
    templates_: tuple[dict[str, Any], dict[str, Any], str],
    *,
    operations: int,
    payments: int,
    destinations: int,
    seed: int = 1,
    mix: dict[str, int] | None = None,
    each_payment_once: bool = False,
) -> Corpus:
    """`each_payment_once`: operation i pays payment i (needs as many payments as operations)."""
    native, credit, issuer = templates_
    rng = random.Random(seed)
    dests = [Keypair.random().public_key for _ in range(destinations)]
    pool = [
        PendingPayment(
            rng.choice(dests),
            new_reference(),
            rng.randint(1, 10_000) * 10_000_000,
            rng.choice(["XLM", "USDC"]),
        )
        for _ in range(payments)
    ]
    forger = Keypair.random().public_key
    corpus = Corpus(dests, issuer, pool)
    kinds = [kind for kind, weight in (mix or MIX).items() for _ in range(weight)]
    ledger, closed = 1000, datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    for index in range(operations):
        if index % 50 == 0:  # 50 payment operations per ledger
            ledger += 1
            closed += timedelta(seconds=5)
        kind = rng.choice(kinds)
        payment = pool[index] if each_payment_once else rng.choice(pool)
        token = (ledger << 32) | ((index % 50 + 1) << 12) | 1
        record = copy.deepcopy(credit if payment.currency == "USDC" or kind == "wrong_asset" else native)
        amount = payment.amount
        if kind == "partial":
            amount = max(1, amount // 3)
        elif kind == "overpaid":
            amount = amount + amount // 10
        record["id"] = record["paging_token"] = str(token)
        tx_hash = secrets.token_hex(32)
        record["transaction_hash"] = tx_hash
        record["created_at"] = closed.strftime("%Y-%m-%dT%H:%M:%SZ")
        record["to"] = payment.destination
        record["amount"] = format_amount(amount)
        for key in ("to_muxed", "to_muxed_id"):
            record.pop(key, None)
        if record.get("asset_type") != "native":
            record["asset_issuer"] = forger if kind == "wrong_asset" else issuer
        transaction = record["transaction"]
        transaction.update(
            {
                "id": tx_hash,
                "hash": tx_hash,
                "paging_token": str(token & ~0xFFF),
                "ledger": ledger,
                "created_at": record["created_at"],
            }
        )
        for key in ("memo", "memo_bytes"):
            transaction.pop(key, None)
        transaction["memo_type"] = "none"
        if kind == "muxed":
            muxed = MuxedAccount(payment.destination, payment.reference)
            record["to_muxed"] = str(muxed.account_muxed)
            record["to_muxed_id"] = str(payment.reference)
        elif kind in ("memo", "partial", "overpaid", "wrong_asset"):
            transaction["memo_type"] = "id"
            transaction["memo"] = str(payment.reference)
        elif rng.random() < 0.5:  # unmatched: half without memo, half with an unknown reference
            transaction["memo_type"] = "id"
            transaction["memo"] = str(new_reference())
        corpus.records.append((token, payment.destination, record))
    return corpus


async def make(operations: int, payments: int, destinations: int, seed: int = 1, **options: Any) -> Corpus:
    return build(
        await templates(),
        operations=operations,
        payments=payments,
        destinations=destinations,
        seed=seed,
        **options,
    )
