"""Creating payments: the one write the API originates on its own."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from api.models import InitiatePayment
from api.problems import Problem, conflict, validation_problem
from shared.apply import ApplyContext, Details, emit
from shared.config import Settings
from shared.domain.amounts import parse_amount
from shared.domain.references import new_reference
from shared.domain.strkeys import is_account_id
from shared.store import payments as payment_store
from shared.store.engine import Database
from shared.store.errors import violates
from shared.store.payments import PaymentRow


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
