"""Lifecycle rules the spine relies on (the full table is tested exhaustively with the lifecycle work)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.domain.lifecycle import (
    PaymentState,
    Policy,
    TransitionError,
    cancel,
    close_window,
    receive,
    required_amount,
)

EXPIRES = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ON_TIME = EXPIRES - timedelta(seconds=1)
POLICY = Policy()


def pending(amount: int = 100) -> PaymentState:
    return PaymentState(status="pending", amount=amount, amount_received=0, amount_late=0, expires_at=EXPIRES)


def test_full_payment_on_time_confirms() -> None:
    outcome = receive(pending(), amount=100, closed_at=ON_TIME, asset_ok=True, policy=POLICY)
    assert outcome.state.status == "confirmed"
    assert outcome.events == ("payment.funds_received", "payment.confirmed")
    assert outcome.completed
    assert outcome.disposition == "accepted"


def test_paid_in_the_ledger_that_closes_exactly_at_expiry_is_on_time() -> None:
    outcome = receive(pending(), amount=100, closed_at=EXPIRES, asset_ok=True, policy=POLICY)
    assert outcome.state.status == "confirmed"


def test_partial_payments_accumulate() -> None:
    first = receive(pending(), amount=40, closed_at=ON_TIME, asset_ok=True, policy=POLICY)
    assert first.state.status == "pending"
    assert first.events == ("payment.funds_received",)
    second = receive(first.state, amount=60, closed_at=ON_TIME, asset_ok=True, policy=POLICY)
    assert second.state.status == "confirmed"
    assert second.state.amount_received == 100


def test_wrong_asset_is_rejected_and_does_not_count() -> None:
    outcome = receive(pending(), amount=100, closed_at=ON_TIME, asset_ok=False, policy=POLICY)
    assert outcome.disposition == "rejected"
    assert outcome.reason == "asset_mismatch"
    assert outcome.state == pending()


def test_overpayment_is_kept_and_flagged() -> None:
    outcome = receive(pending(), amount=150, closed_at=ON_TIME, asset_ok=True, policy=POLICY)
    assert outcome.state.status == "confirmed"
    assert outcome.state.overpaid
    assert outcome.state.overpaid_amount == 50


def test_tolerance_rounds_the_required_amount_up() -> None:
    assert required_amount(100, Decimal("1")) == 99
    assert required_amount(3, Decimal("50")) == 2  # 1.5 rounds up
    assert required_amount(10**18, Decimal("0.5")) == 995 * 10**15


def test_window_close_times_out_or_fails_underpaid() -> None:
    assert [e for e, _ in close_window(pending())] == ["payment.timeout"]
    partial = receive(pending(), amount=10, closed_at=ON_TIME, asset_ok=True, policy=POLICY).state
    ((event, state),) = close_window(partial)
    assert (event, state.status, state.failure_reason) == ("payment.failed", "failed", "underpaid")


def test_cancel_only_when_nothing_arrived() -> None:
    ((_, state),) = cancel(pending())
    assert (state.status, state.failure_reason) == ("failed", "cancelled")
    partial = receive(pending(), amount=10, closed_at=ON_TIME, asset_ok=True, policy=POLICY).state
    with pytest.raises(TransitionError):
        cancel(partial)
