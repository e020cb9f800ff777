"""Assets, references, memos, muxed addresses, SEP-7 URIs and matching decisions (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import Keypair

from shared.domain.assets import NATIVE, Asset, AssetError, asset_from_horizon
from shared.domain.credits import Credit
from shared.domain.matching import Matched, NotMatched, candidate_references, choose_payment
from shared.domain.references import (
    MAX_REFERENCE,
    NO_MEMO,
    UINT64_MAX,
    Memo,
    memo_text_for,
    new_reference,
    reference_from_memo_text,
)
from shared.domain.sep7 import PUBLIC_PASSPHRASE, pay_uri
from shared.domain.strkeys import is_account_id, is_muxed_account, muxed_address, split_muxed

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
ISSUER = "GBBD47IF6LWK7P7MDEVSCWR7DPUWV3NY3DTQEVFL4NAT4AQH3ZLLFLA5"


def test_credit_asset_needs_code_and_issuer_and_both_must_match() -> None:
    usdc = Asset.credit("USDC", ISSUER)
    fake = Asset.credit("USDC", Keypair.random().public_key)
    assert usdc != fake  # same code, other issuer: a different asset
    assert usdc == asset_from_horizon("credit_alphanum4", "USDC", ISSUER)
    assert asset_from_horizon("native", None, None) == NATIVE
    assert Asset.credit("LONGERCODE12", ISSUER).horizon_type == "credit_alphanum12"


@pytest.mark.parametrize(
    ("kind", "code", "issuer"),
    [
        ("credit_alphanum4", "USDC", ISSUER[:-1] + "A"),  # bad checksum
        ("credit_alphanum4", "USDC", None),
        ("credit_alphanum4", "TOOLONGCODE", ISSUER),  # 12-type code declared as alphanum4
        ("credit_alphanum4", "US D", ISSUER),
        ("liquidity_pool_shares", None, None),
        ("credit_alphanum12", "", ISSUER),
    ],
)
def test_bad_assets_are_refused(kind: str, code: str | None, issuer: str | None) -> None:
    with pytest.raises(AssetError):
        asset_from_horizon(kind, code, issuer)


def test_references_are_random_63_bit_values() -> None:
    refs = {new_reference() for _ in range(1000)}
    assert len(refs) == 1000
    assert all(1 <= ref <= MAX_REFERENCE for ref in refs)
    assert max(refs) > 2**60  # not a counter


@given(st.integers(min_value=1, max_value=MAX_REFERENCE))
def test_text_memo_round_trips_and_is_compared_as_bytes(reference: int) -> None:
    text = memo_text_for(reference)
    assert len(text.encode()) <= 28
    assert reference_from_memo_text(text.encode()) == reference
    assert reference_from_memo_text(text.lower().encode()) is None or text.lower() == text
    assert reference_from_memo_text(text.encode() + b" ") is None
    assert reference_from_memo_text(b" " + text.encode()) is None


def test_text_memo_that_looks_numeric_is_not_a_reference() -> None:
    assert reference_from_memo_text(b"3232096465") is None
    assert Memo("text", b"3232096465").reference() is None
    assert Memo("id", 3232096465).reference() == 3232096465


@given(st.integers(min_value=0, max_value=UINT64_MAX))
def test_muxed_addresses_round_trip_for_the_full_uint64_range(muxed_id: int) -> None:
    address = muxed_address(ACCOUNT, muxed_id)
    assert is_muxed_account(address)
    assert split_muxed(address) == (ACCOUNT, muxed_id)


def test_strkeys_with_bad_checksums_are_refused() -> None:
    assert is_account_id(ACCOUNT)
    assert not is_account_id(ACCOUNT[:-1] + ("A" if ACCOUNT[-1] != "A" else "B"))
    assert not is_account_id(ACCOUNT.lower())
    assert not is_account_id(muxed_address(ACCOUNT, 1))
    with pytest.raises(ValueError, match="muxed"):
        split_muxed(ACCOUNT)


def test_pay_uri_carries_destination_amount_asset_memo_and_network() -> None:
    uri = pay_uri(
        destination=ACCOUNT,
        amount=250_000_000,
        asset=Asset.credit("USDC", ISSUER),
        memo="12345",
        memo_type="MEMO_ID",
        network_passphrase="Test SDF Network ; September 2015",
    )
    parts = urlsplit(uri)
    assert f"{parts.scheme}:{parts.path}" == "web+stellar:pay"
    params = dict(parse_qsl(parts.query))
    assert params == {
        "destination": ACCOUNT,
        "amount": "25",
        "asset_code": "USDC",
        "asset_issuer": ISSUER,
        "memo": "12345",
        "memo_type": "MEMO_ID",
        "network_passphrase": "Test SDF Network ; September 2015",
    }
    public = pay_uri(
        destination=ACCOUNT,
        amount=1,
        asset=NATIVE,
        memo=None,
        memo_type=None,
        network_passphrase=PUBLIC_PASSPHRASE,
    )
    assert public == f"web+stellar:pay?destination={ACCOUNT}&amount=0.0000001"


def _credit(muxed_id: int | None = None, memo: Memo = NO_MEMO) -> Credit:
    return Credit(
        operation_id="1",
        part=0,
        operation_type="payment",
        destination=ACCOUNT,
        amount=1,
        asset=NATIVE,
        source=None,
        muxed_id=muxed_id,
        memo=memo,
        transaction_hash="0" * 64,
        ledger=1,
        closed_at=datetime(2026, 1, 1, tzinfo=UTC),
        paging_token="1",
    )


def test_matching_prefers_the_muxed_id_then_the_memo() -> None:
    refs = candidate_references(_credit(muxed_id=5, memo=Memo("id", 7)))
    assert (refs.muxed, refs.memo) == (5, 7)
    assert choose_payment(refs, "P5", None) == Matched("P5")
    assert choose_payment(refs, None, "P7") == Matched("P7")
    assert choose_payment(refs, "P5", "P7") == NotMatched("ambiguous")
    assert choose_payment(refs, "P5", "P5") == Matched("P5")


def test_matching_reasons_for_no_match() -> None:
    no_memo = candidate_references(_credit())
    assert choose_payment(no_memo, None, None) == NotMatched("no_memo")
    unknown = candidate_references(_credit(memo=Memo("text", b"invoice 7")))
    assert unknown.memo is None
    assert choose_payment(unknown, None, None) == NotMatched("unknown_reference")
    hash_memo = candidate_references(_credit(memo=Memo("hash", b"\0" * 32)))
    assert choose_payment(hash_memo, None, None) == NotMatched("unknown_reference")


def test_out_of_range_ids_are_not_references() -> None:
    refs = candidate_references(_credit(muxed_id=UINT64_MAX, memo=Memo("id", 0)))
    assert refs.distinct == []
    assert refs.has_identifier
