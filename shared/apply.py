"""Applying credits and window closings to payments: the single path every state change takes.

Each function runs inside the caller's write transaction and writes the receipt, the payment's new
state and its events together (SPEC §3: no state change without its event, no event without its
state change). The watcher calls it for stream records; the API for verify, assign and refunds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.config import Settings
from shared.domain import lifecycle
from shared.domain.credits import Credit
from shared.domain.lifecycle import EventType, PaymentState, Policy
from shared.domain.matching import Matched, candidate_references, choose_payment
from shared.store import events as event_store
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store.payments import PaymentRow
from shared.store.receipts import ReceiptRow
from shared.views import ViewContext, payment_asset, payment_view, receipt_view


@dataclass(frozen=True, slots=True)
class ApplyContext:
    policy: Policy
    view: ViewContext
    now: Callable[[], datetime]


def context_from_settings(settings: Settings, now: Callable[[], datetime] = utcnow) -> ApplyContext:
    return ApplyContext(
        policy=Policy(
            tolerance_percent=settings.payments.underpayment_tolerance_percent,
            late_window=timedelta(minutes=settings.payments.late_window_minutes),
            accept_late=settings.payments.accept_late,
        ),
        view=ViewContext(
            network_passphrase=settings.network.passphrase,
            muxed_enabled=settings.payments.muxed,
            public_url=settings.api.public_url,
        ),
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Applied:
    receipt: ReceiptRow
    payment_id: str | None
    events: tuple[EventType, ...]


def state_of(row: PaymentRow) -> PaymentState:
    return PaymentState(
        status=row.status,  # type: ignore[arg-type]
        amount=row.amount,
        amount_received=row.amount_received,
        amount_late=row.amount_late,
        expires_at=row.expires_at,
        late=row.flag_late,
        overpaid=row.flag_overpaid,
        manual=row.flag_manual,
        failure_reason=row.failure_reason,  # type: ignore[arg-type]
        amount_refunded=row.amount_refunded,
    )


def _with_state(row: PaymentRow, state: PaymentState, now: datetime) -> PaymentRow:
    """The row as it is after `state` (timestamps set on the transition that reaches each status)."""
    changes: dict[str, Any] = {
        "status": state.status,
        "amount_received": state.amount_received,
        "amount_late": state.amount_late,
        "amount_refunded": state.amount_refunded,
        "flag_late": state.late,
        "flag_overpaid": state.overpaid,
        "flag_manual": state.manual,
        "failure_reason": state.failure_reason,
        "updated_at": now,
    }
    if state.status != row.status:
        if state.status == "confirmed":
            changes["confirmed_at"] = now
        elif state.status in ("failed", "timeout"):
            changes["failed_at"] = now
        elif state.status == "refunded":
            changes["refunded_at"] = now
    return replace(row, **changes)


def _row_changes(before: PaymentRow, after: PaymentRow) -> dict[str, Any]:
    return {
        name: getattr(after, name)
        for name in PaymentRow.__slots__
        if getattr(after, name) != getattr(before, name)
    }


async def emit(
    conn: AsyncConnection,
    event_type: EventType,
    *,
    payment: PaymentRow | None,
    receipts: Sequence[ReceiptRow],
    receipt: ReceiptRow | None,
    ctx: ApplyContext,
) -> int:
    """Write one event whose data is the payment as the API shows it (plus the receipt, if any)."""
    data: dict[str, Any] = {
        "payment": payment_view(payment, list(receipts), ctx.view) if payment is not None else None,
    }
    if receipt is not None:
        data["receipt"] = receipt_view(receipt)
    return await event_store.insert_event(
        conn,
        type=event_type,
        payment_id=payment.id if payment is not None else None,
        data=json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        created_at=ctx.now(),
    )


async def write_steps(
    conn: AsyncConnection,
    row: PaymentRow,
    steps: Sequence[lifecycle.Step],
    *,
    ctx: ApplyContext,
    receipts: Sequence[ReceiptRow],
    receipt: ReceiptRow | None = None,
    extra: dict[str, Any] | None = None,
) -> PaymentRow:
    """Persist a sequence of lifecycle steps: one row update, one event per step."""
    now = ctx.now()
    current = row
    for event_type, state in steps:
        current = _with_state(current, state, now)
        if extra and event_type == "payment.confirmed":
            current = replace(current, **extra)
        shown_receipt = receipt if event_type == "payment.funds_received" else None
        await emit(conn, event_type, payment=current, receipts=receipts, receipt=shown_receipt, ctx=ctx)
    changes = _row_changes(row, current)
    if changes:
        await payment_store.update_payment(conn, row.id, changes)
    return current


def _receipt_values(credit: Credit, amount: int, now: datetime) -> dict[str, Any]:
    return {
        "operation_id": credit.operation_id,
        "part": credit.part,
        "operation_type": credit.operation_type,
        "destination": credit.destination,
        "source": credit.source,
        "amount": amount,
        "asset_code": credit.asset.code,
        "asset_issuer": credit.asset.issuer,
        "memo_type": credit.memo.kind,
        "memo": credit.memo.display(),
        "muxed_id": str(credit.muxed_id) if credit.muxed_id is not None else None,
        "transaction_hash": credit.transaction_hash,
        "ledger": credit.ledger,
        "closed_at": credit.closed_at,
        "recorded_at": now,
    }


async def apply_credit(conn: AsyncConnection, credit: Credit, ctx: ApplyContext) -> Applied | None:
    """Record one credit as a receipt and apply it to its payment; None if it was recorded before."""
    if credit.amount is None:
        raise ValueError("credit amount must be resolved (account_merge effects) before applying")
    if await receipt_store.existing_keys(conn, [credit.key]):
        return None
    now = ctx.now()
    values = _receipt_values(credit, credit.amount, now)
    refs = candidate_references(credit)
    found = await payment_store.by_references(conn, credit.destination, refs.distinct)
    decision = choose_payment(
        refs,
        found.get(refs.muxed) if refs.muxed is not None else None,
        found.get(refs.memo) if refs.memo is not None else None,
    )
    if not isinstance(decision, Matched):
        receipt = await receipt_store.insert_receipt(
            conn, {**values, "disposition": "unmatched", "reason": decision.reason}
        )
        await emit(conn, "receipt.unmatched", payment=None, receipts=(), receipt=receipt, ctx=ctx)
        return Applied(receipt, None, ("receipt.unmatched",))
    return await _attribute(conn, decision.payment, credit.amount, values, credit, ctx, manual=False)


async def _attribute(
    conn: AsyncConnection,
    row: PaymentRow,
    amount: int,
    values: dict[str, Any],
    credit: Credit,
    ctx: ApplyContext,
    *,
    manual: bool,
) -> Applied:
    outcome = lifecycle.receive(
        state_of(row),
        amount=amount,
        closed_at=credit.closed_at,
        asset_ok=credit.asset == payment_asset(row),
        policy=ctx.policy,
        manual=manual,
    )
    if outcome.disposition == "unmatched":
        receipt = await receipt_store.insert_receipt(
            conn, {**values, "disposition": "unmatched", "reason": outcome.reason}
        )
        await emit(conn, "receipt.unmatched", payment=None, receipts=(), receipt=receipt, ctx=ctx)
        return Applied(receipt, None, outcome.events)
    receipt = await receipt_store.insert_receipt(
        conn,
        {**values, "payment_id": row.id, "disposition": outcome.disposition, "reason": outcome.reason},
    )
    receipts = await receipt_store.for_payment(conn, row.id)
    completion = (
        {"stellar_transaction_id": credit.transaction_hash, "source_account": credit.source}
        if outcome.completed
        else None
    )
    await write_steps(conn, row, outcome.steps, ctx=ctx, receipts=receipts, receipt=receipt, extra=completion)
    return Applied(receipt, row.id, outcome.events)


async def close_expired(
    conn: AsyncConnection, destination: str, through: datetime, ctx: ApplyContext
) -> list[tuple[str, EventType]]:
    """Time out or fail every pending payment at `destination` whose window closed by network time `through`."""
    closed: list[tuple[str, EventType]] = []
    for row in await payment_store.pending_expired(conn, destination, through):
        steps = lifecycle.close_window(state_of(row))
        if steps:
            receipts = await receipt_store.for_payment(conn, row.id)
            await write_steps(conn, row, steps, ctx=ctx, receipts=receipts)
            closed += [(row.id, event) for event, _ in steps]
    return closed
