"""`paywatch reconcile`: re-read Horizon's history for every receiving account and compare it with
the store. Reports each crediting operation the store lacks, or records differently; with `repair`
the missing ones are recorded through the normal path (`shared.apply.apply_credit`). One recorded
differently is never rewritten: the payment's totals and events (and webhooks sent) rest on it, so
a person decides (docs/decisions.md).

What it reads: `/accounts/{D}/payments` from the last ledger that closed before `since`, up to the
latest ledger at the start of the run, for every configured account and every destination a
payment names. Credits are parsed exactly as the watcher parses them (merges read their effects).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from shared.apply import ApplyContext, apply_credit
from shared.domain.amounts import format_amount
from shared.domain.credits import Credit
from shared.domain.matching import candidate_references
from shared.stellar.fetch import resolve_amount
from shared.stellar.horizon import HorizonClient, NotFound
from shared.stellar.records import ledger_of_token, parse_credits
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store.engine import Database
from watcher.positions import cursor_before


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # "missing" | "differs"
    credit: Credit
    detail: str
    repaired: bool = False

    def line(self) -> str:
        amount = format_amount(self.credit.amount or 0)
        state = " (repaired)" if self.repaired else ""
        return (
            f"{self.kind}{state}: operation {self.credit.operation_id}/{self.credit.part} "
            f"tx {self.credit.transaction_hash} to {self.credit.destination} {amount} {self.credit.asset} "
            f"ledger {self.credit.ledger}: {self.detail}"
        )


@dataclass
class Report:
    accounts: int = 0
    operations: int = 0
    findings: list[Finding] = field(default_factory=list)
    # Payments whose amount_received is not the sum of their counted receipts: (id, stored, summed).
    inconsistent: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def unresolved(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]

    @property
    def clean(self) -> bool:
        return not self.unresolved and not self.inconsistent


async def _history(
    horizon: HorizonClient, account: str, cursor: str, last_ledger: int
) -> AsyncIterator[dict[str, Any]]:
    params = {"limit": "200", "order": "asc", "join": "transactions"}
    while True:
        try:
            page = await horizon.records(f"/accounts/{account}/payments", {**params, "cursor": cursor})
        except NotFound:
            return  # no history at all
        if not page:
            return
        for record in page:
            token = str(record.get("paging_token", "0"))
            if ledger_of_token(token) > last_ledger:
                return
            yield record
            cursor = token


async def _inconsistent_target(db: Database, credit: Credit) -> str | None:
    """The id of a payment this credit would be attributed to whose totals are inconsistent."""
    refs = candidate_references(credit)
    async with db.read() as conn:
        found = await payment_store.by_references(conn, credit.destination, refs.distinct, lock=False)
        bad = await payment_store.inconsistent_totals(conn, [row.id for row in found.values()])
    return bad[0][0] if bad else None


def _differences(credit: Credit, stored: receipt_store.ReceiptRow) -> list[str]:
    wanted = {
        "amount": credit.amount,
        "asset_code": credit.asset.code,
        "asset_issuer": credit.asset.issuer,
        "destination": credit.destination,
        "transaction_hash": credit.transaction_hash,
    }
    return [
        f"{name} is {getattr(stored, name)!r}, Horizon says {value!r}"
        for name, value in wanted.items()
        if getattr(stored, name) != value
    ]


async def reconcile(
    db: Database,
    horizon: HorizonClient,
    ctx: ApplyContext,
    *,
    accounts: list[str],
    since: datetime,
    repair: bool = False,
) -> Report:
    async with db.read() as conn:
        destinations = sorted(set(accounts) | set(await payment_store.all_destinations(conn)))
    root = await horizon.root()
    last_ledger = int(root["history_latest_ledger"])
    start = await cursor_before(horizon, since)
    report = Report(accounts=len(destinations))
    for account in destinations:
        async for record in _history(horizon, account, start, last_ledger):
            for credit in parse_credits(record, record.get("transaction")):
                if credit.destination != account:
                    continue
                credit = await resolve_amount(horizon, credit)
                report.operations += 1
                async with db.read() as conn:
                    stored = await receipt_store.get_by_key(conn, credit.operation_id, credit.part)
                if stored is not None:
                    differences = _differences(credit, stored)
                    if differences:
                        report.findings.append(Finding("differs", credit, "; ".join(differences)))
                    continue
                if not repair:
                    report.findings.append(Finding("missing", credit, "not in the store"))
                    continue
                blocked = await _inconsistent_target(db, credit)
                if blocked:
                    # Its payment's money and receipts disagree already: re-applying could count twice.
                    detail = f"not repaired: payment {blocked} is inconsistent, fix it by hand first"
                    report.findings.append(Finding("missing", credit, detail))
                    continue
                async with db.write() as conn:
                    applied = await apply_credit(conn, credit, ctx)
                detail = f"recorded as {applied.receipt.disposition}" if applied else "recorded meanwhile"
                report.findings.append(Finding("missing", credit, detail, repaired=True))
    async with db.read() as conn:
        report.inconsistent = await payment_store.inconsistent_totals(conn)
    return report


async def run_reconcile(
    db: Database, urls: list[str], ctx: ApplyContext, *, accounts: list[str], since: datetime, repair: bool
) -> Report:
    async with aiohttp.ClientSession() as session:
        horizon = HorizonClient(urls, session)
        return await reconcile(db, horizon, ctx, accounts=accounts, since=since, repair=repair)
