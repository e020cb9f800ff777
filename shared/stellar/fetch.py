"""Fetching one transaction's payment operations from Horizon (verify, refunds, inbound webhooks).

What Horizon says is the only source: a request body's amounts or accounts are never trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from shared.domain.credits import Credit
from shared.stellar.horizon import HorizonClient
from shared.stellar.records import merged_amount, parse_credits

TRANSACTION_HASH = re.compile(r"[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True, slots=True)
class FetchedTransaction:
    transaction: dict[str, Any]
    operations: list[dict[str, Any]]
    credits: list[Credit]

    @property
    def successful(self) -> bool:
        return self.transaction.get("successful") is True


async def resolve_amount(horizon: HorizonClient, credit: Credit) -> Credit:
    """Fill in the amount of an `account_merge` credit from its `account_credited` effect."""
    if credit.amount is not None:
        return credit
    effects = await horizon.records(f"/operations/{credit.operation_id}/effects", {"limit": "200"})
    return replace(credit, amount=merged_amount(effects, credit.destination))


async def fetch_transaction(horizon: HorizonClient, transaction_hash: str) -> FetchedTransaction:
    """The transaction, its payment operations and the credits they carry (NotFound if unknown)."""
    transaction = await horizon.get(f"/transactions/{transaction_hash}")
    operations = await horizon.records(f"/transactions/{transaction_hash}/payments", {"limit": "200"})
    credits = [
        await resolve_amount(horizon, credit)
        for operation in operations
        for credit in parse_credits(operation, transaction)
    ]
    return FetchedTransaction(transaction, operations, credits)
