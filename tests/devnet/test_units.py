"""Small pure helpers: amounts, Go-style JSON, TOIDs, memo scrubbing, rates."""

from __future__ import annotations

import pytest

from devnet import gojson
from devnet.amounts import format_amount, parse_amount
from devnet.rates import receive_for_send, send_for_receive
from devnet.toid import after_ledger, toid
from devnet.txparse import scrub_utf8


@pytest.mark.parametrize(
    ("stroops", "text"),
    [
        (0, "0.0000000"),
        (1, "0.0000001"),
        (250_000_000, "25.0000000"),
        (2**63 - 1, "922337203685.4775807"),
        (-5, "-0.0000005"),
    ],
)
def test_format_amount_is_horizon_style(stroops: int, text: str) -> None:
    assert format_amount(stroops) == text


def test_parse_amount_exact_and_strict() -> None:
    assert parse_amount("25") == 250_000_000
    assert parse_amount("0.0000001") == 1
    assert parse_amount("922337203685.4775807") == 2**63 - 1
    for bad in ("1e-7", "0.00000001", "-1", "abc", "922337203685.4775808", ""):
        with pytest.raises(ValueError, match="invalid amount"):
            parse_amount(bad)


def test_go_json_escapes_html_characters_and_keeps_utf8() -> None:
    value = {"href": "a?b=1&c=<d>", "memo": "✅", "sep": "\u2028"}
    assert gojson.compact(value) == '{"href":"a?b=1\\u0026c=\\u003cd\\u003e","memo":"✅","sep":"\\u2028"}'
    assert gojson.indented({"a": [1], "b": {}}) == '{\n  "a": [\n    1\n  ],\n  "b": {}\n}'


def test_toid_layout() -> None:
    assert toid(3, 1, 1) == 12884905985  # Horizon's documented example
    assert toid(3, 1) == 12884905984
    assert after_ledger(2) == toid(3) - 1


def test_memo_text_scrub_matches_go_decode_rune() -> None:
    # Each byte that starts no valid UTF-8 sequence becomes one U+FFFD, valid text is kept.
    assert scrub_utf8(b"ok \xe2\x9c\x85") == "ok ✅"
    assert scrub_utf8(b"a\xe2\x82b") == "a\ufffd\ufffdb"
    assert scrub_utf8(b"\xff") == "\ufffd"


def test_rate_rounding_favours_the_market_maker() -> None:
    rate = (1, 3)  # one destination unit per three sent
    assert receive_for_send(10, rate) == 3  # floor
    assert send_for_receive(3, rate) == 9
    assert send_for_receive(4, rate) == 12
    assert send_for_receive(1, (3, 1)) == 1  # ceil(1/3)
