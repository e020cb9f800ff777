"""The payment lifecycle (SPEC §3): every row of the table, and a property test against a reference
model for any sequence of credits (amounts, assets, times around expires_at, duplicates, order)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.lifecycle import (
    PaymentState,
    Policy,
    TransitionError,
    cancel,
    close_window,
    receive,
    refund,
)

EXPIRES = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ON_TIME = EXPIRES - timedelta(minutes=1)
LATE = EXPIRES + timedelta(minutes=10)
TOO_LATE = EXPIRES + timedelta(days=2)
POLICY = Policy(late_window=timedelta(days=1))


def pending(amount: int = 100) -> PaymentState:
    return PaymentState(status="pending", amount=amount, amount_received=0, amount_late=0, expires_at=EXPIRES)


def pay(
    state: PaymentState, amount: int, when: datetime, policy: Policy = POLICY, *, asset_ok: bool = True
) -> tuple[PaymentState, tuple[str, ...], str]:
    outcome = receive(state, amount=amount, closed_at=when, asset_ok=asset_ok, policy=policy)
    return outcome.state, outcome.events, outcome.disposition


# --- the rows of SPEC §3, one test each -------------------------------------------------------


def test_enough_on_time_confirms() -> None:
    state, events, disposition = pay(pending(), 100, ON_TIME)
    assert (state.status, events, disposition) == (
        "confirmed",
        ("payment.funds_received", "payment.confirmed"),
        "accepted",
    )


def test_short_on_time_stays_pending_and_accumulates() -> None:
    state, events, _ = pay(pending(), 30, ON_TIME)
    assert (state.status, state.amount_received, events) == ("pending", 30, ("payment.funds_received",))
    state, events, _ = pay(state, 70, ON_TIME)
    assert (state.status, state.amount_received) == ("confirmed", 100)


def test_tolerance_confirms_slightly_short_payments() -> None:
    policy = Policy(tolerance_percent=Decimal("2.5"), late_window=timedelta(days=1))
    state, _, _ = pay(pending(1000), 975, ON_TIME, policy)
    assert state.status == "confirmed"
    state, _, _ = pay(pending(1000), 974, ON_TIME, policy)
    assert state.status == "pending"


def test_window_closes_with_nothing_received_timeout() -> None:
    ((event, state),) = close_window(pending())
    assert (event, state.status) == ("payment.timeout", "timeout")


def test_window_closes_short_failed_underpaid() -> None:
    state, _, _ = pay(pending(), 40, ON_TIME)
    ((event, closed),) = close_window(state)
    assert (event, closed.status, closed.failure_reason) == ("payment.failed", "failed", "underpaid")


def test_cancel_with_nothing_received() -> None:
    ((event, state),) = cancel(pending())
    assert (event, state.status, state.failure_reason) == ("payment.failed", "failed", "cancelled")
    with pytest.raises(TransitionError):
        cancel(pay(pending(), 1, ON_TIME)[0])
    with pytest.raises(TransitionError):
        cancel(close_window(pending())[0][1])


def test_late_funds_are_recorded_but_do_not_confirm_by_default() -> None:
    timed_out = close_window(pending())[0][1]
    state, events, disposition = pay(timed_out, 100, LATE)
    assert (state.status, state.late, state.amount_received, state.amount_late) == ("timeout", True, 100, 100)
    assert (events, disposition) == (("payment.funds_received",), "late")


def test_late_funds_confirm_with_accept_late() -> None:
    policy = Policy(late_window=timedelta(days=1), accept_late=True)
    underpaid = close_window(pay(pending(), 40, ON_TIME, policy)[0])[0][1]
    state, events, _ = pay(underpaid, 60, LATE, policy)
    assert (state.status, state.late, state.failure_reason) == ("confirmed", True, None)
    assert events == ("payment.funds_received", "payment.confirmed")


def test_late_funds_to_a_still_pending_payment_close_the_window_first() -> None:
    # The watcher lagged: the expiry proof had not run yet when the late credit was applied.
    state, events, _ = pay(pending(), 100, LATE)
    assert events == ("payment.timeout", "payment.funds_received")
    assert (state.status, state.late) == ("timeout", True)


def test_funds_after_the_late_window_are_unmatched() -> None:
    state, events, disposition = pay(close_window(pending())[0][1], 100, TOO_LATE)
    assert (disposition, events, state.amount_received) == ("unmatched", ("receipt.unmatched",), 0)


def test_more_funds_after_confirmation_flag_overpaid() -> None:
    confirmed = pay(pending(), 100, ON_TIME)[0]
    state, events, _ = pay(confirmed, 25, ON_TIME)
    assert (state.status, state.overpaid, state.overpaid_amount, events) == (
        "confirmed",
        True,
        25,
        ("payment.funds_received",),
    )


def test_wrong_asset_is_rejected_and_changes_nothing() -> None:
    state, events, disposition = pay(pending(), 100, ON_TIME, asset_ok=False)
    assert (state, events, disposition) == (pending(), ("payment.funds_received",), "rejected")


def test_cancelled_payments_never_confirm() -> None:
    cancelled = cancel(pending())[0][1]
    policy = Policy(late_window=timedelta(days=1), accept_late=True)
    state, _, _ = pay(cancelled, 100, ON_TIME, policy)
    assert (state.status, state.failure_reason, state.amount_received) == ("failed", "cancelled", 100)


def test_refunds_covering_what_was_received_refund() -> None:
    confirmed = pay(pending(), 120, ON_TIME)[0]
    partly, steps = refund(confirmed, 100)
    assert (partly.status, steps) == ("confirmed", ())
    refunded, steps = refund(partly, 20)
    assert refunded.status == "refunded"
    assert [event for event, _ in steps] == ["payment.refunded"]
    for status_source in (
        close_window(pay(pending(), 5, ON_TIME)[0])[0][1],
        pay(close_window(pending())[0][1], 5, LATE)[0],
    ):
        assert refund(status_source, 5)[0].status == "refunded"


def test_refund_needs_funds_and_a_closed_payment() -> None:
    with pytest.raises(TransitionError):
        refund(pending(), 1)
    with pytest.raises(TransitionError):
        refund(pay(pending(), 10, ON_TIME)[0], 10)  # still pending (underpaid so far)
    with pytest.raises(TransitionError):
        refund(close_window(pending())[0][1], 1)  # timed out with nothing received


# --- the property test ---------------------------------------------------------------------------

TIMES = {
    "early": EXPIRES - timedelta(minutes=20),
    "at": EXPIRES,  # a ledger that closed exactly at expires_at is on time
    "late": EXPIRES + timedelta(minutes=5),
    "late_edge": EXPIRES + timedelta(days=1),  # the last moment of the late window
    "too_late": EXPIRES + timedelta(days=1, seconds=1),
}


@dataclass(frozen=True)
class Credit:
    op: int  # operation id: a repeat of the same id is a replay
    amount: int
    asset_ok: bool
    when: str


credits = st.builds(
    Credit,
    op=st.integers(min_value=0, max_value=12),
    amount=st.integers(min_value=1, max_value=400),
    asset_ok=st.booleans(),
    when=st.sampled_from(sorted(TIMES)),
)


def model(
    amount: int, tolerance: Decimal, accept_late: bool, seq: list[Credit], expiry_checked: bool
) -> dict[str, object]:
    """What the payment must look like after `seq`, written from the spec, independent of the code."""
    seen: set[int] = set()
    on_time = late = 0
    for credit in seq:
        if credit.op in seen:
            continue
        seen.add(credit.op)
        if not credit.asset_ok or credit.when == "too_late":
            continue
        if credit.when in ("early", "at"):
            on_time += credit.amount
        else:
            late += credit.amount
    required = math.ceil(Decimal(amount) * (100 - tolerance) / 100)
    total = on_time + late
    window_closed = expiry_checked or late > 0
    if on_time >= required or (window_closed and accept_late and total >= required):
        status, reason = "confirmed", None
    elif not window_closed:
        status, reason = "pending", None
    elif on_time > 0:
        status, reason = "failed", "underpaid"
    else:
        status, reason = "timeout", None
    return {
        "status": status,
        "failure_reason": reason,
        "amount_received": total,
        "amount_late": late,
        "late": late > 0,
        "overpaid": total > amount,
    }


@settings(max_examples=400, deadline=None)
@given(
    amount=st.integers(min_value=1, max_value=1000),
    tolerance=st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(10), Decimal("33.3")]),
    accept_late=st.booleans(),
    seq=st.lists(credits, max_size=10),
    check_at=st.integers(min_value=0, max_value=10),
    expiry_checked=st.booleans(),
)
def test_any_sequence_of_credits_matches_the_reference_model(
    amount: int, tolerance: Decimal, accept_late: bool, seq: list[Credit], check_at: int, expiry_checked: bool
) -> None:
    policy = Policy(tolerance_percent=tolerance, late_window=timedelta(days=1), accept_late=accept_late)
    state = pending(amount)
    seen: set[int] = set()
    counted = 0
    confirmations = 0
    for index, credit in enumerate([*seq, None]):
        if expiry_checked and index == min(check_at, len(seq)):
            for event, closed in close_window(state):
                state = closed
                assert event in ("payment.timeout", "payment.failed")
        if credit is None:
            break
        if credit.op in seen:
            continue  # the store's unique receipt key: a replay is never applied twice
        seen.add(credit.op)
        outcome = receive(
            state, amount=credit.amount, closed_at=TIMES[credit.when], asset_ok=credit.asset_ok, policy=policy
        )
        if outcome.disposition in ("accepted", "late"):
            counted += credit.amount
        confirmations += outcome.events.count("payment.confirmed")
        for event, step_state in outcome.steps:
            assert event != "payment.confirmed" or step_state.status == "confirmed"
        state = outcome.state
    expected = model(amount, tolerance, accept_late, seq, expiry_checked)
    assert {
        "status": state.status,
        "failure_reason": state.failure_reason,
        "amount_received": state.amount_received,
        "amount_late": state.amount_late,
        "late": state.late,
        "overpaid": state.overpaid,
    } == expected
    assert counted == state.amount_received  # accepted + late receipts sum to amount_received, to the stroop
    assert confirmations <= 1


def test_required_amount_rounds_up_to_a_whole_stroop() -> None:
    from shared.domain.lifecycle import required_amount

    assert required_amount(100, Decimal(1)) == 99
    assert required_amount(3, Decimal(50)) == 2  # 1.5 rounds up
    assert required_amount(10**18, Decimal("0.5")) == 995 * 10**15
    assert required_amount(2**63 - 1, Decimal(0)) == 2**63 - 1


def test_a_ledger_closing_exactly_at_expiry_is_on_time() -> None:
    assert pay(pending(), 100, EXPIRES)[0].status == "confirmed"
