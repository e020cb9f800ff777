"""Money properties over whole input spaces (hypothesis): amounts, memo ids, muxed ids, text memos."""

from __future__ import annotations

import base64
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.amounts import MAX_STROOPS, AmountError, format_amount, parse_amount
from shared.domain.references import UINT64_MAX, Memo
from shared.stellar.records import RecordError, parse_credits, parse_memo
from tests.test_fuzz_horizon import payment_record

CANONICAL = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,7})?", re.ASCII)
amount_like = st.from_regex(r"\A[-+ ]?[0-9]{0,14}(\.[0-9]{0,9})?([eE][-+]?[0-9]{1,3})?\Z") | st.text(
    max_size=24
)


@given(amount_like)
def test_an_amount_is_accepted_only_when_exact_and_in_range(text: str) -> None:
    """Whatever the text: AmountError, or the exact number of stroops of a plain decimal in range."""
    try:
        stroops = parse_amount(text)
    except AmountError:
        valid = CANONICAL.fullmatch(text) is not None and 1 <= Decimal(text) * 10**7 <= MAX_STROOPS
        assert not valid, f"{text!r} was refused"
        return
    assert CANONICAL.fullmatch(text), f"{text!r} is not a plain decimal"
    assert Decimal(stroops) == Decimal(text) * 10**7
    assert 1 <= stroops <= MAX_STROOPS


@given(st.integers(min_value=0, max_value=MAX_STROOPS // 10), st.integers(min_value=1, max_value=9))
def test_an_eighth_decimal_is_always_refused(stroops: int, digit: int) -> None:
    with pytest.raises(AmountError):
        parse_amount(format_amount(stroops) + str(digit))


@given(st.integers(min_value=0, max_value=UINT64_MAX))
def test_memo_ids_round_trip_for_the_full_uint64_range(memo_id: int) -> None:
    assert parse_memo({"memo_type": "id", "memo": str(memo_id)}) == Memo("id", memo_id)


@given(st.integers(min_value=UINT64_MAX + 1, max_value=10**20 - 1) | st.integers(max_value=-1))
def test_memo_ids_beyond_uint64_are_refused(memo_id: int) -> None:
    with pytest.raises(RecordError):
        parse_memo({"memo_type": "id", "memo": str(memo_id)})


@given(st.integers(min_value=0, max_value=UINT64_MAX))
def test_muxed_ids_from_horizon_round_trip_for_the_full_uint64_range(muxed_id: int) -> None:
    record = payment_record(9 << 32)
    record["to_muxed_id"] = str(muxed_id)
    (credit,) = parse_credits(record, record["transaction"])
    assert credit.muxed_id == muxed_id


@given(st.binary(max_size=28))
def test_text_memos_are_the_raw_bytes_not_their_text(raw: bytes) -> None:
    """Horizon's `memo` is a lossy UTF-8 rendering; `memo_bytes` is the truth and is what is compared."""
    shown = raw.decode("utf-8", errors="replace")
    memo = parse_memo({"memo_type": "text", "memo": shown, "memo_bytes": base64.b64encode(raw).decode()})
    assert memo == Memo("text", raw)
    if shown.encode() != raw:  # invalid UTF-8: two different memos would look the same as text
        assert memo != Memo("text", shown.encode())
