"""The payment lifecycle of SPEC §3 as pure functions: state in, new state and event types out.

Statuses: pending → confirmed | failed | timeout, and confirmed/failed/timeout → refunded.
Money that arrives is never dropped: every attributed credit raises `amount_received`; what arrived
after `expires_at` is also counted in `amount_late`. "On time" means the credit's ledger closed at
or before `expires_at` (network time, never the wall clock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Literal

Status = Literal["pending", "confirmed", "failed", "timeout", "refunded"]
STATUSES: tuple[Status, ...] = ("pending", "confirmed", "failed", "timeout", "refunded")
FailureReason = Literal["underpaid", "cancelled"]
Disposition = Literal["accepted", "late", "rejected", "unmatched", "poison"]
EventType = Literal[
    "payment.initiated",
    "payment.funds_received",
    "payment.confirmed",
    "payment.failed",
    "payment.timeout",
    "payment.refunded",
    "receipt.unmatched",
]
EVENT_TYPES: tuple[EventType, ...] = (
    "payment.initiated",
    "payment.funds_received",
    "payment.confirmed",
    "payment.failed",
    "payment.timeout",
    "payment.refunded",
    "receipt.unmatched",
)


class TransitionError(ValueError):
    """The requested change is not allowed from the payment's current state."""


@dataclass(frozen=True, slots=True)
class Policy:
    tolerance_percent: Decimal = Decimal(0)
    late_window: timedelta = timedelta(minutes=1440)
    accept_late: bool = False


@dataclass(frozen=True, slots=True)
class PaymentState:
    status: Status
    amount: int
    amount_received: int
    amount_late: int
    expires_at: datetime
    late: bool = False
    overpaid: bool = False
    manual: bool = False
    failure_reason: FailureReason | None = None
    amount_refunded: int = 0

    @property
    def amount_on_time(self) -> int:
        return self.amount_received - self.amount_late

    @property
    def overpaid_amount(self) -> int:
        return max(0, self.amount_received - self.amount)


Step = tuple[EventType, PaymentState]  # an event and the payment's state right after it


@dataclass(frozen=True, slots=True)
class Outcome:
    state: PaymentState
    disposition: Disposition
    steps: tuple[Step, ...]
    completed: bool = False  # this credit completed the payment (it becomes `stellar_transaction_id`)
    reason: str | None = None

    @property
    def events(self) -> tuple[EventType, ...]:
        return tuple(event for event, _ in self.steps)


def required_amount(amount: int, tolerance_percent: Decimal) -> int:
    """Stroops that must arrive: amount × (1 − tolerance/100), rounded up to a whole stroop."""
    exact = Decimal(amount) * (Decimal(100) - tolerance_percent) / Decimal(100)
    return int(exact.to_integral_value(rounding=ROUND_CEILING))


def close_window(state: PaymentState) -> tuple[Step, ...]:
    """Network time has passed `expires_at`: a still-pending payment times out or fails underpaid."""
    if state.status != "pending":
        return ()
    if state.amount_received == 0:
        return (("payment.timeout", replace(state, status="timeout")),)
    return (("payment.failed", replace(state, status="failed", failure_reason="underpaid")),)


def receive(
    state: PaymentState,
    *,
    amount: int,
    closed_at: datetime,
    asset_ok: bool,
    policy: Policy,
    manual: bool = False,
) -> Outcome:
    """Apply one credit attributed to this payment (matched by reference, or assigned by hand).

    `manual`: attributed by a person (assign, verify); sets the `manual` flag and is accepted even
    after the late window, because someone decided it belongs here.
    """
    if not asset_ok:
        return Outcome(state, "rejected", (("payment.funds_received", state),), reason="asset_mismatch")
    late = closed_at > state.expires_at
    if late and not manual and closed_at > state.expires_at + policy.late_window:
        return Outcome(state, "unmatched", (("receipt.unmatched", state),), reason="late_window_passed")

    steps: list[Step] = []
    new = state
    if late:
        # The window closed before this ledger: record that first, exactly as a prompt watcher would have.
        steps += close_window(new)
        new = steps[-1][1] if steps else new
    new = replace(
        new,
        amount_received=new.amount_received + amount,
        amount_late=new.amount_late + (amount if late else 0),
        late=new.late or late,
        manual=new.manual or manual,
    )
    new = replace(new, overpaid=new.amount_received > new.amount)
    steps.append(("payment.funds_received", new))

    required = required_amount(new.amount, policy.tolerance_percent)
    completes = False
    if new.status == "pending":
        completes = new.amount_on_time >= required
    elif new.status in ("timeout", "failed") and new.failure_reason != "cancelled":
        # After the window closed, the outcome depends only on the totals, whatever order credits were
        # attributed in (assign and verify can apply an older credit after a newer one): enough on
        # time, or enough in all when late funds are accepted, confirms; some on-time funds but too
        # few is underpaid; nothing on time is a timeout.
        completes = new.amount_on_time >= required or (policy.accept_late and new.amount_received >= required)
        if not completes and new.status == "timeout" and new.amount_on_time > 0:
            new = replace(new, status="failed", failure_reason="underpaid")
            steps.append(("payment.failed", new))
    if completes:
        new = replace(new, status="confirmed", failure_reason=None)
        steps.append(("payment.confirmed", new))
    return Outcome(new, "late" if late else "accepted", tuple(steps), completed=completes)


def cancel(state: PaymentState) -> tuple[Step, ...]:
    if state.status != "pending" or state.amount_received != 0:
        raise TransitionError("only a pending payment with nothing received can be cancelled")
    return (("payment.failed", replace(state, status="failed", failure_reason="cancelled")),)


def refund(state: PaymentState, amount: int) -> tuple[PaymentState, tuple[Step, ...]]:
    """Record a verified refund; the payment becomes `refunded` once refunds cover what was received."""
    if state.status not in ("confirmed", "failed", "timeout", "refunded") or state.amount_received == 0:
        raise TransitionError("only a payment that received funds and is no longer pending can be refunded")
    new = replace(state, amount_refunded=state.amount_refunded + amount)
    if new.status != "refunded" and new.amount_refunded >= new.amount_received:
        refunded = replace(new, status="refunded")
        return refunded, (("payment.refunded", refunded),)
    return new, ()
