"""Creating payments: the one write the API originates on its own."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta

import aiohttp
from sqlalchemy.exc import IntegrityError

from api.models import InitiatePayment
from api.problems import Problem, conflict, not_found, validation_problem
from shared.apply import (
    ApplyContext,
    Details,
    RefundPayment,
    apply_credits,
    assign_receipt,
    cancel_payment,
    emit,
    record_refunds,
)
from shared.config import Settings
from shared.domain.amounts import parse_amount
from shared.domain.credits import Credit
from shared.domain.lifecycle import TransitionError
from shared.domain.references import new_reference
from shared.domain.strkeys import is_account_id
from shared.stellar.fetch import FetchedTransaction, fetch_transaction
from shared.stellar.horizon import HorizonClient, HorizonError, NotFound
from shared.stellar.records import CLASSIC_PAYMENTS, RecordError
from shared.store import inbound as inbound_store
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store.engine import Database
from shared.store.errors import violates
from shared.store.notifications import notify_payments
from shared.store.payments import PaymentRow
from shared.store.receipts import ReceiptRow
from shared.views import payment_asset


def new_payment_id() -> str:
    """`pay_` + 26 base32 characters of randomness (128 bits): public and unguessable."""
    return "pay_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def _same_terms(row: PaymentRow, amount: int, currency: str, destination: str) -> bool:
    return row.amount == amount and row.currency == currency and row.destination == destination


async def initiate(
    db: Database, settings: Settings, ctx: ApplyContext, body: InitiatePayment
) -> tuple[PaymentRow, bool]:
    """Create a pending payment, or return the order's pending one when the terms are the same.

    Returns (payment, created). Different terms for an order that has a pending payment → 409.
    """
    asset = settings.asset_named(body.currency)
    if asset is None:
        raise validation_problem(
            [
                {
                    "field": "currency",
                    "message": f"not a configured asset (configured: {', '.join(settings.assets)})",
                }
            ]
        )
    amount = parse_amount(body.amount)
    destination = body.destination or settings.default_account
    if not is_account_id(destination):
        raise validation_problem([{"field": "destination", "message": "not a valid Stellar account (G…)"}])
    if destination not in settings.account_addresses and not settings.payments.allow_any_destination:
        raise validation_problem([{"field": "destination", "message": "not a configured receiving account"}])
    timeout = timedelta(minutes=body.timeout_minutes or settings.payments.timeout_minutes)

    for _attempt in range(5):
        now = ctx.now()
        try:
            async with db.write() as conn:
                existing = await payment_store.pending_for_order(conn, body.order_id)
                if existing is not None:
                    if _same_terms(existing, amount, body.currency, destination):
                        return existing, False
                    raise conflict("this order already has a pending payment with different terms")
                row = await payment_store.insert_payment(
                    conn,
                    {
                        "id": new_payment_id(),
                        "order_id": body.order_id,
                        "buyer_id": body.buyer_id,
                        "status": "pending",
                        "amount": amount,
                        "currency": body.currency,
                        "asset_code": asset.code,
                        "asset_issuer": asset.issuer,
                        "destination": destination,
                        "reference": new_reference(),
                        "memo_type": settings.payments.memo_type,
                        "metadata": json.dumps(body.metadata, ensure_ascii=False)
                        if body.metadata is not None
                        else None,
                        "created_at": now,
                        "updated_at": now,
                        "expires_at": now + timeout,
                    },
                )
                await emit(conn, "payment.initiated", payment=row, details=Details(), receipt=None, ctx=ctx)
                await notify_payments(conn)  # PostgreSQL: wakes the watcher at commit
                return row, True
        except IntegrityError as exc:
            if violates(exc, "uq_payments_reference", "payments.reference"):
                continue  # a 1-in-2^63 reference collision: draw again
            if not violates(exc, "uq_payments_pending_order", "payments.order_id"):
                raise
            # A concurrent initiate for the same order won the race: answer as if we came second.
            async with db.read() as conn:
                existing = await payment_store.pending_for_order(conn, body.order_id)
            if existing is None:
                continue
            if _same_terms(existing, amount, body.currency, destination):
                return existing, False
            raise conflict("this order already has a pending payment with different terms") from None
    raise Problem(503, "could not create the payment, try again", type_="urn:paywatch:problem:busy")


def _horizon_problem(exc: Exception) -> Problem:
    if isinstance(exc, NotFound):
        return Problem(404, "Horizon has no such transaction", type_="urn:paywatch:problem:not-found")
    return Problem(502, "Horizon is not reachable right now; try again", type_="urn:paywatch:problem:horizon")


async def fetch(horizon: HorizonClient, transaction_hash: str) -> FetchedTransaction:
    try:
        fetched = await fetch_transaction(horizon, transaction_hash)
    except (HorizonError, aiohttp.ClientError, TimeoutError) as exc:
        raise _horizon_problem(exc) from None
    except RecordError as exc:
        raise Problem(
            502, f"Horizon sent a malformed record: {exc}", type_="urn:paywatch:problem:horizon"
        ) from None
    if not fetched.successful:
        raise validation_problem(
            [{"field": "transaction_hash", "message": "this transaction failed on the network"}],
            "the transaction failed on the network",
        )
    return fetched


async def load(db: Database, payment_id: str) -> PaymentRow:
    async with db.read() as conn:
        row = await payment_store.get_payment(conn, payment_id)
    if row is None:
        raise not_found("payment")
    return row


async def verify(
    db: Database, ctx: ApplyContext, horizon: HorizonClient, payment_id: str, transaction_hash: str
) -> PaymentRow:
    """Apply a transaction to a payment now (idempotent with the stream), re-fetched from Horizon.

    Credits to the payment's destination go through the normal path; one that carries no memo and
    no muxed id is attributed to this payment by hand. 422 when nothing in it pays this payment.
    """
    row = await load(db, payment_id)
    fetched = await fetch(horizon, transaction_hash)
    credits = [credit for credit in fetched.credits if credit.destination == row.destination]
    async with db.write() as conn:
        # Every lock first (the payment, then the receipts already recorded), changes after: writing
        # events takes the event-order lock (shared/store/events.py), after which nothing may wait.
        current = await payment_store.get_payment(conn, row.id, lock=True)
        assert current is not None
        hits = 0
        fresh: list[Credit] = []
        to_assign: list[ReceiptRow] = []
        for credit in credits:
            existing = await receipt_store.get_by_key(conn, credit.operation_id, credit.part, lock=True)
            if existing is None:
                fresh.append(credit)
            elif existing.payment_id == row.id:
                hits += 1
            elif existing.disposition == "unmatched" and existing.reason == "no_memo":
                to_assign.append(existing)
        if fresh:
            applied = await apply_credits(conn, fresh, ctx, fallback_payment_id=row.id)
            hits += sum(1 for result in applied if result is not None and result.payment_id == row.id)
        for existing in to_assign:
            current = await payment_store.get_payment(conn, row.id)
            assert current is not None
            await assign_receipt(conn, existing, current, ctx)
            hits += 1
        if not hits:
            raise validation_problem(
                [{"field": "transaction_hash", "message": "nothing in this transaction pays this payment"}],
                "nothing in this transaction pays this payment",
            )
        updated = await payment_store.get_payment(conn, row.id)
    assert updated is not None
    return updated


async def refund(
    db: Database, ctx: ApplyContext, horizon: HorizonClient, payment_id: str, transaction_hash: str
) -> PaymentRow:
    """Record a verified refund: a successful payment from the destination back to a payer, same asset."""
    row = await load(db, payment_id)
    fetched = await fetch(horizon, transaction_hash)
    async with db.read() as conn:
        receipts = await receipt_store.for_payment(conn, row.id)
    payers = {r.source for r in receipts if r.disposition in ("accepted", "late") and r.source}
    asset = payment_asset(row)
    refunds = [
        RefundPayment(
            operation_id=credit.operation_id,
            transaction_hash=credit.transaction_hash,
            to_account=credit.destination,
            amount=credit.amount,
            asset=credit.asset,
            ledger=credit.ledger,
            closed_at=credit.closed_at,
        )
        for credit in fetched.credits
        if credit.operation_type in CLASSIC_PAYMENTS
        and credit.source == row.destination
        and credit.destination in payers
        and credit.asset == asset
        and credit.amount is not None
    ]
    if not refunds:
        raise validation_problem(
            [
                {
                    "field": "transaction_hash",
                    "message": f"no payment in it goes from {row.destination} back to a payer of this payment in {asset}",
                }
            ],
            "this transaction does not refund this payment",
        )
    async with db.write() as conn:
        current = await payment_store.get_payment(conn, row.id, lock=True)
        assert current is not None
        try:
            return await record_refunds(conn, current, refunds, ctx)
        except TransitionError as exc:
            raise conflict(str(exc)) from None


async def cancel(db: Database, ctx: ApplyContext, payment_id: str) -> PaymentRow:
    async with db.write() as conn:
        row = await payment_store.get_payment(conn, payment_id, lock=True)
        if row is None:
            raise not_found("payment")
        try:
            return await cancel_payment(conn, row, ctx)
        except TransitionError as exc:
            raise conflict(str(exc)) from None


async def assign(db: Database, ctx: ApplyContext, receipt_id: int, payment_id: str) -> PaymentRow:
    async with db.write() as conn:
        receipt = await receipt_store.get_receipt(conn, receipt_id, lock=True)
        if receipt is None:
            raise not_found("receipt")
        payment = await payment_store.get_payment(conn, payment_id, lock=True)
        if payment is None:
            raise validation_problem([{"field": "payment_id", "message": "no such payment"}])
        if receipt.disposition != "unmatched":
            raise conflict(f"this receipt is not unmatched (it is {receipt.disposition})")
        if receipt.destination != payment.destination:
            raise validation_problem(
                [{"field": "payment_id", "message": "that payment is for another receiving account"}]
            )
        return await assign_receipt(conn, receipt, payment, ctx)


async def apply_reported(
    db: Database,
    settings: Settings,
    ctx: ApplyContext,
    horizon: HorizonClient,
    message_id: str,
    transaction_hash: str,
) -> list[ReceiptRow]:
    """An external notifier reported a transaction: apply it like the stream would (memo/muxed only)."""
    fetched = await fetch(horizon, transaction_hash)
    async with db.write() as conn:
        if await inbound_store.seen(conn, message_id):
            raise conflict("this webhook message was processed before (replay refused)")
        await inbound_store.remember(conn, message_id, ctx.now())
        watched = [
            credit
            for credit in fetched.credits
            if credit.destination in settings.account_addresses
            or (
                settings.payments.allow_any_destination
                and await payment_store.has_destination(conn, credit.destination)
            )
        ]
        await apply_credits(conn, watched, ctx)  # one change set: its locks, then its events
        receipts = []
        for credit in watched:
            receipt = await receipt_store.get_by_key(conn, credit.operation_id, credit.part)
            if receipt is not None:
                receipts.append(receipt)
    return receipts
