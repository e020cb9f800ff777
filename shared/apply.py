"""Applying credits and window closings to payments: the single path every state change takes.

Each function runs inside the caller's write transaction and writes the receipt, the payment's new
state and its events together (SPEC §3: no state change without its event, no event without its
state change). The watcher calls it for stream records; the API for verify, assign and refunds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import metrics
from shared.clock import utcnow
from shared.config import Settings
from shared.domain import lifecycle
from shared.domain.assets import Asset
from shared.domain.credits import Credit
from shared.domain.lifecycle import EventType, PaymentState, Policy
from shared.domain.matching import Matched, candidate_references, choose_payment
from shared.domain.references import NO_MEMO
from shared.outbox import Outbox, enqueue_deliveries
from shared.store import events as event_store
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store import refunds as refund_store
from shared.store.payments import PaymentRow
from shared.store.receipts import ReceiptRow
from shared.store.refunds import RefundRow
from shared.views import ViewContext, payment_asset, payment_view, receipt_view


@dataclass(frozen=True, slots=True)
class ApplyContext:
    policy: Policy
    view: ViewContext
    now: Callable[[], datetime]
    outbox: Outbox = field(default_factory=Outbox)  # webhook endpoints each event is queued for


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
        outbox=Outbox.from_settings(settings),
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


@dataclass(frozen=True, slots=True)
class Details:
    """What a payment's view shows besides the row itself."""

    receipts: Sequence[ReceiptRow] = ()
    refunds: Sequence[RefundRow] = ()


async def details_of(conn: AsyncConnection, payment_id: str) -> Details:
    return Details(
        await receipt_store.for_payment(conn, payment_id), await refund_store.for_payment(conn, payment_id)
    )


async def emit(
    conn: AsyncConnection,
    event_type: EventType,
    *,
    payment: PaymentRow | None,
    details: Details,
    receipt: ReceiptRow | None,
    ctx: ApplyContext,
) -> int:
    """Write one event whose data is the payment as the API shows it (plus the receipt, if any),
    and its webhook deliveries (the outbox) in the same transaction."""
    data: dict[str, Any] = {
        "payment": (
            payment_view(payment, details.receipts, ctx.view, details.refunds)
            if payment is not None
            else None
        ),
    }
    if receipt is not None:
        data["receipt"] = receipt_view(receipt)
    metrics.count_event(event_type)
    if event_type == "payment.initiated":
        metrics.count_transition("none", "pending")
    payment_id = payment.id if payment is not None else None
    created_at = ctx.now()
    event_id = await event_store.insert_event(
        conn,
        type=event_type,
        payment_id=payment_id,
        data=json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        created_at=created_at,
    )
    await enqueue_deliveries(
        conn,
        ctx.outbox,
        event_id=event_id,
        event_type=event_type,
        created_at=created_at,
        payment_id=payment_id,
        data=data,
    )
    return event_id


async def write_steps(
    conn: AsyncConnection,
    row: PaymentRow,
    steps: Sequence[lifecycle.Step],
    *,
    ctx: ApplyContext,
    details: Details,
    receipt: ReceiptRow | None = None,
    extra: dict[str, Any] | None = None,
) -> PaymentRow:
    """Persist a sequence of lifecycle steps: one row update, one event per step."""
    now = ctx.now()
    current = row
    for event_type, state in steps:
        if state.status != current.status:
            metrics.count_transition(current.status, state.status)
        current = _with_state(current, state, now)
        if extra and event_type == "payment.confirmed":
            current = replace(current, **extra)
            if receipt is not None:
                metrics.observe_confirmation((now - receipt.closed_at).total_seconds())
        shown_receipt = receipt if event_type == "payment.funds_received" else None
        await emit(conn, event_type, payment=current, details=details, receipt=shown_receipt, ctx=ctx)
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


async def apply_credit(
    conn: AsyncConnection, credit: Credit, ctx: ApplyContext, *, fallback_payment_id: str | None = None
) -> Applied | None:
    """Record one credit as a receipt and apply it to its payment; None if it was recorded before.

    `fallback_payment_id` (verify): a credit to that payment's destination that carries no memo and
    no muxed id at all is attributed to it by hand instead of being left unmatched.
    """
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
    if not isinstance(decision, Matched) and decision.reason == "no_memo" and fallback_payment_id is not None:
        fallback = await payment_store.get_payment(conn, fallback_payment_id, lock=True)
        if fallback is not None and fallback.destination == credit.destination:
            return await _attribute(conn, fallback, credit.amount, values, credit, ctx, manual=True)
    if not isinstance(decision, Matched):
        receipt = await receipt_store.insert_receipt(
            conn, {**values, "disposition": "unmatched", "reason": decision.reason}
        )
        metrics.count_receipt("unmatched", credit.asset.code)
        await emit(conn, "receipt.unmatched", payment=None, details=Details(), receipt=receipt, ctx=ctx)
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
        metrics.count_receipt("unmatched", credit.asset.code)
        await emit(conn, "receipt.unmatched", payment=None, details=Details(), receipt=receipt, ctx=ctx)
        return Applied(receipt, None, outcome.events)
    receipt = await receipt_store.insert_receipt(
        conn,
        {**values, "payment_id": row.id, "disposition": outcome.disposition, "reason": outcome.reason},
    )
    metrics.count_receipt(outcome.disposition, credit.asset.code)
    completion = (
        {"stellar_transaction_id": credit.transaction_hash, "source_account": credit.source}
        if outcome.completed
        else None
    )
    details = await details_of(conn, row.id)
    await write_steps(conn, row, outcome.steps, ctx=ctx, details=details, receipt=receipt, extra=completion)
    return Applied(receipt, row.id, outcome.events)


def credit_of(receipt: ReceiptRow) -> Credit:
    """The credit a stored receipt recorded (to re-apply it when it is assigned by hand)."""
    return Credit(
        operation_id=receipt.operation_id,
        part=receipt.part,
        operation_type=receipt.operation_type,
        destination=receipt.destination,
        amount=receipt.amount,
        asset=Asset(receipt.asset_code, receipt.asset_issuer),
        source=receipt.source,
        muxed_id=int(receipt.muxed_id) if receipt.muxed_id is not None else None,
        memo=NO_MEMO,
        transaction_hash=receipt.transaction_hash,
        ledger=receipt.ledger,
        closed_at=receipt.closed_at,
        paging_token=receipt.operation_id,
    )


async def assign_receipt(
    conn: AsyncConnection, receipt: ReceiptRow, payment: PaymentRow, ctx: ApplyContext
) -> PaymentRow:
    """Attribute an unmatched receipt to a payment by hand (flag `manual`), in its original ledger time."""
    credit = credit_of(receipt)
    outcome = lifecycle.receive(
        state_of(payment),
        amount=receipt.amount,
        closed_at=receipt.closed_at,
        asset_ok=credit.asset == payment_asset(payment),
        policy=ctx.policy,
        manual=True,
    )
    await receipt_store.update_receipt(
        conn,
        receipt.id,
        {
            "payment_id": payment.id,
            "disposition": outcome.disposition,
            "reason": outcome.reason,
            "assigned_at": ctx.now(),
        },
    )
    assigned = replace(receipt, payment_id=payment.id, disposition=outcome.disposition, reason=outcome.reason)
    completion = (
        {"stellar_transaction_id": credit.transaction_hash, "source_account": credit.source}
        if outcome.completed
        else None
    )
    details = await details_of(conn, payment.id)
    return await write_steps(
        conn, payment, outcome.steps, ctx=ctx, details=details, receipt=assigned, extra=completion
    )


async def cancel_payment(conn: AsyncConnection, payment: PaymentRow, ctx: ApplyContext) -> PaymentRow:
    """pending with nothing received → failed/cancelled (raises lifecycle.TransitionError otherwise)."""
    steps = lifecycle.cancel(state_of(payment))
    return await write_steps(conn, payment, steps, ctx=ctx, details=await details_of(conn, payment.id))


@dataclass(frozen=True, slots=True)
class RefundPayment:
    """A verified payment from the receiving account back to a payer."""

    operation_id: str
    transaction_hash: str
    to_account: str
    amount: int
    asset: Asset
    ledger: int | None
    closed_at: datetime


async def record_refunds(
    conn: AsyncConnection, payment: PaymentRow, refunds: Sequence[RefundPayment], ctx: ApplyContext
) -> PaymentRow:
    """Record refund operations not recorded before; `refunded` once they cover what was received."""
    known = await refund_store.recorded_operations(conn, [r.operation_id for r in refunds])
    current = payment
    for refund in refunds:
        if refund.operation_id in known:
            continue
        await refund_store.insert_refund(
            conn,
            {
                "payment_id": payment.id,
                "operation_id": refund.operation_id,
                "transaction_hash": refund.transaction_hash,
                "to_account": refund.to_account,
                "amount": refund.amount,
                "asset_code": refund.asset.code,
                "asset_issuer": refund.asset.issuer,
                "ledger": refund.ledger,
                "closed_at": refund.closed_at,
                "recorded_at": ctx.now(),
            },
        )
        state, steps = lifecycle.refund(state_of(current), refund.amount)
        details = await details_of(conn, payment.id)
        if steps:
            current = await write_steps(conn, current, steps, ctx=ctx, details=details)
        else:
            changed = _with_state(current, state, ctx.now())
            await payment_store.update_payment(conn, current.id, _row_changes(current, changed))
            current = changed
    return current


async def close_expired(
    conn: AsyncConnection, destination: str, through: datetime, ctx: ApplyContext
) -> list[tuple[str, EventType]]:
    """Time out or fail every pending payment at `destination` whose window closed by network time `through`."""
    closed: list[tuple[str, EventType]] = []
    for row in await payment_store.pending_expired(conn, destination, through):
        steps = lifecycle.close_window(state_of(row))
        if steps:
            await write_steps(conn, row, steps, ctx=ctx, details=await details_of(conn, row.id))
            closed += [(row.id, event) for event, _ in steps]
    return closed
