"""Exact amounts: parsing refuses every inexact or out-of-range form; formatting matches Horizon."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.amounts import (
    MAX_STROOPS,
    AmountError,
    format_amount,
    format_amount_short,
    parse_amount,
    parse_horizon_amount,
)


@pytest.mark.parametrize(
    ("text", "stroops"),
    [
        ("25", 250_000_000),
        ("25.5", 255_000_000),
        ("0.0000001", 1),
        ("0.5", 5_000_000),
        ("922337203685.4775807", MAX_STROOPS),
        ("1.1000000", 11_000_000),
    ],
)
def test_parse_accepts_exact_amounts(text: str, stroops: int) -> None:
    assert parse_amount(text) == stroops


@pytest.mark.parametrize(
    "text",
    [
        "1e5", "1E5", "0.00000001", "-1", "+1", "0", "0.0", "0.0000000", "922337203685.4775808",
        "1000000000000", "NaN", "nan", "Infinity", "inf", "", " 1", "1 ", "1.", ".5", "01", "1_000",
        "١", "0x10", "1,5", "1.5.5", "--1", "1\n",
    ],
)  # fmt: skip
def test_parse_refuses_inexact_or_out_of_range(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


def test_parse_refuses_non_strings() -> None:
    for value in (25, 25.0, None, b"25"):
        with pytest.raises(AmountError):
            parse_amount(value)  # type: ignore[arg-type]


def test_more_than_seven_decimals_is_named() -> None:
    with pytest.raises(AmountError, match="7 decimal"):
        parse_amount("0.00000001")


@given(st.integers(min_value=1, max_value=MAX_STROOPS))
def test_format_then_parse_round_trips_every_stroop_value(stroops: int) -> None:
    text = format_amount(stroops)
    assert len(text.split(".")[1]) == 7
    assert parse_amount(text) == stroops
    assert parse_horizon_amount(text) == stroops
    assert parse_amount(format_amount_short(stroops)) == stroops


def test_format_matches_horizon() -> None:
    assert format_amount(250_000_000) == "25.0000000"
    assert format_amount(1) == "0.0000001"
    assert format_amount(0) == "0.0000000"
    assert format_amount(MAX_STROOPS) == "922337203685.4775807"
    assert format_amount_short(250_000_000) == "25"
    assert format_amount_short(255_000_000) == "25.5"


@pytest.mark.parametrize(
    "text", ["25", "25.000000", "25.00000000", "-1.0000000", "9223372036854.7758070", "1e5"]
)
def test_horizon_amounts_must_have_exactly_seven_decimals(text: str) -> None:
    with pytest.raises(AmountError):
        parse_horizon_amount(text)


def test_horizon_zero_is_allowed() -> None:
    assert parse_horizon_amount("0.0000000") == 0
