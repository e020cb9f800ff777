"""Applying credits and window closings to payments: the single path every state change takes.

Each function runs inside the caller's write transaction and writes the receipt, the payment's new
state and its events together (SPEC §3: no state change without its event, no event without its
state change). The watcher calls it for stream records; the API for verify, assign and refunds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import metrics
from shared.changeset import ChangeSet, PaymentDetails, PendingReceipt, with_state
from shared.clock import utcnow
from shared.config import Settings
from shared.domain import lifecycle
from shared.domain.assets import Asset
from shared.domain.credits import Credit
from shared.domain.lifecycle import EventType, PaymentState, Policy
from shared.domain.matching import Matched, candidate_references, choose_payment
from shared.domain.references import NO_MEMO
from shared.outbox import Outbox
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store import refunds as refund_store
from shared.store.payments import PaymentRow
from shared.store.receipts import ReceiptRow
from shared.store.refunds import RefundRow
from shared.views import ViewContext, payment_asset


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
            public_url=settings.api.base_url,
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


@dataclass(frozen=True, slots=True)
class Details:
    """What a payment's view shows besides the row itself."""

    receipts: Sequence[ReceiptRow] = ()
    refunds: Sequence[RefundRow] = ()


async def details_of(conn: AsyncConnection, payment_id: str) -> Details:
    return Details(
        await receipt_store.for_payment(conn, payment_id), await refund_store.for_payment(conn, payment_id)
    )


async def _details(conn: AsyncConnection, payment_id: str) -> PaymentDetails:
    details = await details_of(conn, payment_id)
    return PaymentDetails(list(details.receipts), list(details.refunds))


async def emit(
    conn: AsyncConnection,
    event_type: EventType,
    *,
    payment: PaymentRow | None,
    details: Details,
    receipt: ReceiptRow | None,
    ctx: ApplyContext,
) -> int:
    """Write one event (and its webhook deliveries) whose data is the payment as the API shows it."""
    changes = ChangeSet(ctx)
    if event_type == "payment.initiated":
        metrics.count_transition("none", "pending")
    changes.add_event(
        event_type,
        payment=payment,
        details=PaymentDetails(list(details.receipts), list(details.refunds)),
        receipt=receipt,
    )
    await changes.flush(conn)
    return changes.event_ids[0]


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
        "payment_id": None,
        "disposition": "unmatched",
        "reason": None,
    }


def _completion(credit: Credit) -> dict[str, Any]:
    return {"stellar_transaction_id": credit.transaction_hash, "source_account": credit.source}


def _at(by_reference: dict[int, PaymentRow], destination: str, reference: int | None) -> PaymentRow | None:
    """The payment with this reference, if it is for this destination (references are global)."""
    row = by_reference.get(reference) if reference is not None else None
    return row if row is not None and row.destination == destination else None


async def apply_credits(
    conn: AsyncConnection,
    credits: Sequence[Credit],
    ctx: ApplyContext,
    *,
    fallback_payment_id: str | None = None,
) -> list[Applied | None]:
    """Record credits as receipts and apply them to their payments, in order, in one change set.

    Returns, per credit, what was recorded — or None for a credit recorded before (a replay; also a
    repeat within `credits`). A handful of statements whatever the number of credits: existing
    receipts and candidate payments are read in bulk, every decision is made in memory by the pure
    lifecycle, and the results are written by `ChangeSet.flush`.

    `fallback_payment_id` (verify): a credit to that payment's destination that carries no memo and
    no muxed id at all is attributed to it by hand instead of being left unmatched.
    """
    if any(credit.amount is None for credit in credits):
        raise ValueError("credit amounts must be resolved (account_merge effects) before applying")
    seen = await receipt_store.existing_keys(conn, [credit.key for credit in credits])
    fresh: list[Credit | None] = []
    for credit in credits:
        fresh.append(None if credit.key in seen else credit)
        seen.add(credit.key)
    references = {ref for item in fresh if item for ref in candidate_references(item).distinct}
    by_reference = await payment_store.by_reference_set(conn, references)
    rows = {row.id: row for row in by_reference.values()}
    if fallback_payment_id is not None and fallback_payment_id not in rows:
        fallback = await payment_store.get_payment(conn, fallback_payment_id, lock=True)
        if fallback is not None:
            rows[fallback.id] = fallback

    # Which payment each credit belongs to (None: unmatched, with the reason), before any state moves.
    targets: list[tuple[str | None, str | None, bool]] = []  # (payment id, unmatched reason, manual)
    for candidate in fresh:
        if candidate is None:
            targets.append((None, None, False))
            continue
        refs = candidate_references(candidate)
        decision = choose_payment(
            refs,
            _at(by_reference, candidate.destination, refs.muxed),
            _at(by_reference, candidate.destination, refs.memo),
        )
        if isinstance(decision, Matched):
            targets.append((decision.payment.id, None, False))
        elif (
            decision.reason == "no_memo"
            and fallback_payment_id in rows
            and rows[fallback_payment_id].destination == candidate.destination
        ):
            targets.append((fallback_payment_id, None, True))
        else:
            targets.append((None, decision.reason, False))

    matched = sorted({payment_id for payment_id, _, _ in targets if payment_id is not None})
    all_receipts = await receipt_store.for_payments(conn, matched)
    all_refunds = await refund_store.for_payments(conn, matched)
    details = {pid: PaymentDetails(list(all_receipts[pid]), list(all_refunds[pid])) for pid in matched}

    changes = ChangeSet(ctx)
    now = ctx.now()
    outcomes: list[tuple[PendingReceipt, str | None, tuple[EventType, ...]] | None] = []
    for maybe, (payment_id, reason, manual) in zip(fresh, targets, strict=True):
        if maybe is None:
            outcomes.append(None)
            continue
        credit = maybe
        assert credit.amount is not None
        values = _receipt_values(credit, credit.amount, now)
        if payment_id is None:
            pending = changes.add_receipt({**values, "reason": reason})
            changes.add_event("receipt.unmatched", payment=None, receipt=pending)
            outcomes.append((pending, None, ("receipt.unmatched",)))
            continue
        row = rows[payment_id]
        outcome = lifecycle.receive(
            state_of(row),
            amount=credit.amount,
            closed_at=credit.closed_at,
            asset_ok=credit.asset == payment_asset(row),
            policy=ctx.policy,
            manual=manual,
        )
        if outcome.disposition == "unmatched":  # past the late window: for a person to decide
            pending = changes.add_receipt({**values, "reason": outcome.reason})
            changes.add_event("receipt.unmatched", payment=None, receipt=pending)
            outcomes.append((pending, None, outcome.events))
            continue
        pending = changes.add_receipt(
            {**values, "payment_id": row.id, "disposition": outcome.disposition, "reason": outcome.reason}
        )
        details[row.id].receipts.append(pending)
        rows[row.id] = changes.apply_steps(
            row,
            outcome.steps,
            details=details[row.id],
            receipt=pending,
            completion=_completion(credit) if outcome.completed else None,
        )
        outcomes.append((pending, row.id, outcome.events))
    await changes.flush(conn)
    results: list[Applied | None] = []
    for item in outcomes:
        if item is None:
            results.append(None)
            continue
        pending, payment_id, events = item
        assert pending.row is not None
        results.append(Applied(pending.row, payment_id, events))
    return results


async def apply_credit(
    conn: AsyncConnection, credit: Credit, ctx: ApplyContext, *, fallback_payment_id: str | None = None
) -> Applied | None:
    """One credit (see `apply_credits`); None if it was recorded before."""
    (result,) = await apply_credits(conn, [credit], ctx, fallback_payment_id=fallback_payment_id)
    return result


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
    assigned = replace(
        receipt,
        payment_id=payment.id,
        disposition=outcome.disposition,
        reason=outcome.reason,
        assigned_at=ctx.now(),
    )
    changes = ChangeSet(ctx)
    changes.update_receipt(assigned)
    details = await _details(conn, payment.id)
    details.receipts = [r for r in details.receipts if not (isinstance(r, ReceiptRow) and r.id == receipt.id)]
    details.receipts.append(assigned)
    current = changes.apply_steps(
        payment,
        outcome.steps,
        details=details,
        receipt=assigned,
        completion=_completion(credit) if outcome.completed else None,
    )
    await changes.flush(conn)
    return current


async def cancel_payment(conn: AsyncConnection, payment: PaymentRow, ctx: ApplyContext) -> PaymentRow:
    """pending with nothing received → failed/cancelled (raises lifecycle.TransitionError otherwise)."""
    steps = lifecycle.cancel(state_of(payment))
    changes = ChangeSet(ctx)
    current = changes.apply_steps(payment, steps, details=await _details(conn, payment.id))
    await changes.flush(conn)
    return current


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
    changes = ChangeSet(ctx)
    details = await _details(conn, payment.id)
    current = payment
    for refund in refunds:
        if refund.operation_id in known:
            continue
        recorded = await refund_store.insert_refund(
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
        details.refunds.append(recorded)
        state, steps = lifecycle.refund(state_of(current), refund.amount)
        if steps:
            current = changes.apply_steps(current, steps, details=details)
        else:
            current = with_state(current, state, ctx.now())
            changes.payments[current.id] = current
    await changes.flush(conn)
    return current


async def close_expired(
    conn: AsyncConnection, destination: str, through: datetime, ctx: ApplyContext
) -> list[tuple[str, EventType]]:
    """Time out or fail every pending payment at `destination` whose window closed by network time
    `through`."""
    closed: list[tuple[str, EventType]] = []
    changes = ChangeSet(ctx)
    for row in await payment_store.pending_expired(conn, destination, through):
        steps = lifecycle.close_window(state_of(row))
        if steps:
            changes.apply_steps(row, steps, details=await _details(conn, row.id))
            closed += [(row.id, event) for event, _ in steps]
    await changes.flush(conn)
    return closed
