"""A change set: receipts, events, payment updates and webhook deliveries collected in memory and
written with a few multi-row statements inside the caller's transaction.

Every payment change goes through one: a batch of stream records (hundreds of credits) or a single
cancel. Collecting first and writing once keeps the statement count per batch constant instead of
per credit, while the meaning stays that of applying each change in order: events get ids in the
order they were added, and each event's payment is the payment as it was right after that event
(including receipts added earlier in the same set, whose ids are known once they are inserted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import jsontext, metrics
from shared.domain import lifecycle
from shared.domain.lifecycle import EventType, PaymentState
from shared.outbox import event_body_json
from shared.store import events as event_store
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store import webhooks as webhook_store
from shared.store.payments import PaymentRow
from shared.store.receipts import ReceiptRow
from shared.store.refunds import RefundRow
from shared.views import payment_view, receipt_view

if TYPE_CHECKING:
    from shared.apply import ApplyContext


@dataclass(eq=False)
class PendingReceipt:
    """A receipt to insert; `row` (with its id) once the set is flushed."""

    values: dict[str, Any]
    row: ReceiptRow | None = None

    @property
    def closed_at(self) -> datetime:
        value: datetime = self.values["closed_at"]
        return value


ReceiptRef = ReceiptRow | PendingReceipt


def _resolved(ref: ReceiptRef) -> ReceiptRow:
    if isinstance(ref, ReceiptRow):
        return ref
    assert ref.row is not None, "receipts are inserted before events are rendered"
    return ref.row


@dataclass(frozen=True, slots=True)
class PendingEvent:
    type: EventType
    payment: PaymentRow | None  # as it is right after this event
    receipts: tuple[ReceiptRef, ...]  # the payment's receipts at that moment
    refunds: tuple[RefundRow, ...]
    receipt: ReceiptRef | None  # the receipt a funds event or receipt.unmatched is about
    created_at: datetime


@dataclass
class PaymentDetails:
    """What a payment's view shows besides the row: its receipts (growing as credits apply) and refunds."""

    receipts: list[ReceiptRef] = field(default_factory=list)
    refunds: list[RefundRow] = field(default_factory=list)


def with_state(row: PaymentRow, state: PaymentState, now: datetime) -> PaymentRow:
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


class ChangeSet:
    def __init__(self, ctx: ApplyContext) -> None:
        self.ctx = ctx
        self.receipts: list[PendingReceipt] = []
        self.receipt_updates: list[ReceiptRow] = []
        self.events: list[PendingEvent] = []
        self.payments: dict[str, PaymentRow] = {}  # id → the row to write (the latest state)
        self.event_ids: list[int] = []
        # A payment's receipts appear again in each of its later events: render each once per set.
        self._receipt_views: dict[int, dict[str, Any]] = {}

    # -- collecting ------------------------------------------------------------------------------
    def add_receipt(self, values: dict[str, Any]) -> PendingReceipt:
        pending = PendingReceipt(values)
        self.receipts.append(pending)
        metrics.count_receipt(values["disposition"], values["asset_code"])
        return pending

    def update_receipt(self, row: ReceiptRow) -> None:
        self.receipt_updates.append(row)

    def add_event(
        self,
        event_type: EventType,
        *,
        payment: PaymentRow | None,
        details: PaymentDetails | None = None,
        receipt: ReceiptRef | None = None,
    ) -> None:
        metrics.count_event(event_type)
        self.events.append(
            PendingEvent(
                event_type,
                payment,
                tuple(details.receipts) if details else (),
                tuple(details.refunds) if details else (),
                receipt,
                self.ctx.now(),
            )
        )

    def apply_steps(
        self,
        row: PaymentRow,
        steps: Sequence[lifecycle.Step],
        *,
        details: PaymentDetails,
        receipt: ReceiptRef | None = None,
        completion: dict[str, Any] | None = None,
    ) -> PaymentRow:
        """Lifecycle steps: one event per step (with the payment right after it); the row to write."""
        now = self.ctx.now()
        current = row
        for event_type, state in steps:
            if state.status != current.status:
                metrics.count_transition(current.status, state.status)
            current = with_state(current, state, now)
            if completion and event_type == "payment.confirmed":
                current = replace(current, **completion)
                if receipt is not None:
                    metrics.observe_confirmation((now - receipt.closed_at).total_seconds())
            shown = receipt if event_type == "payment.funds_received" else None
            self.add_event(event_type, payment=current, details=details, receipt=shown)
        if current != row:
            self.payments[current.id] = current
        return current

    # -- writing ---------------------------------------------------------------------------------
    async def flush(self, conn: AsyncConnection) -> None:
        inserted = await receipt_store.insert_receipts(conn, [pending.values for pending in self.receipts])
        for pending, row in zip(self.receipts, inserted, strict=True):
            pending.row = row
        await receipt_store.update_receipts(
            conn,
            [
                {
                    "r_id": row.id,
                    "r_payment_id": row.payment_id,
                    "r_disposition": row.disposition,
                    "r_reason": row.reason,
                    "r_assigned_at": row.assigned_at,
                }
                for row in self.receipt_updates
            ],
        )
        await payment_store.update_payments(conn, list(self.payments.values()))
        # Events last: on PostgreSQL drawing their ids takes the event-order lock until commit
        # (shared/store/events.py), so every row lock this transaction needs is taken before it.
        # Serialized once: stored with the event and spliced into each webhook body.
        rendered = [jsontext.dumps(self._data(event)) for event in self.events]
        self.event_ids = await event_store.insert_events(
            conn,
            [
                {
                    "type": event.type,
                    "payment_id": event.payment.id if event.payment else None,
                    "created_at": event.created_at,
                    "data": data,
                }
                for event, data in zip(self.events, rendered, strict=True)
            ],
        )
        await self._enqueue_deliveries(conn, rendered)

    def _data(self, event: PendingEvent) -> dict[str, Any]:
        """The event's data: the payment as the API shows it (plus the receipt, if any)."""
        data: dict[str, Any] = {
            "payment": (
                payment_view(
                    event.payment,
                    [_resolved(r) for r in event.receipts],
                    self.ctx.view,
                    event.refunds,
                    receipt_views=self._receipt_views,
                )
                if event.payment is not None
                else None
            )
        }
        if event.receipt is not None:
            data["receipt"] = self._receipt_view(_resolved(event.receipt))
        return data

    def _receipt_view(self, row: ReceiptRow) -> dict[str, Any]:
        view = self._receipt_views.get(row.id)
        if view is None:
            view = self._receipt_views[row.id] = receipt_view(row)
        return view

    async def _enqueue_deliveries(self, conn: AsyncConnection, rendered: list[str]) -> None:
        """One delivery per (event, subscribed endpoint that is neither disabled nor removed)."""
        outbox = self.ctx.outbox
        wanted = [outbox.endpoints_for(event.type) for event in self.events]
        names = sorted({name for names in wanted for name in names})
        if not names:
            return
        active = await webhook_store.active_endpoint_ids(conn, names)
        rows = []
        for event, event_id, data, endpoints in zip(
            self.events, self.event_ids, rendered, wanted, strict=True
        ):
            targets = [active[name] for name in endpoints if name in active]
            if not targets:
                continue
            body = event_body_json(
                event_id=event_id,
                event_type=event.type,
                created_at=event.created_at,
                payment_id=event.payment.id if event.payment else None,
                data_json=data,
            )
            rows += [
                {
                    "event_id": event_id,
                    "endpoint_id": endpoint_id,
                    "event_type": event.type,
                    "body": body,
                    "status": "pending",
                    "next_attempt_at": event.created_at,
                    "give_up_at": event.created_at + outbox.retry_window,
                    "created_at": event.created_at,
                    "updated_at": event.created_at,
                }
                for endpoint_id in targets
            ]
        await webhook_store.insert_deliveries(conn, rows)
