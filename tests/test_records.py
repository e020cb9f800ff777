"""Parsing real Horizon records (../shared/horizon-fixtures) into credits."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared.domain.assets import NATIVE, Asset
from shared.domain.references import Memo
from shared.stellar.records import RecordError, merged_amount, parse_credits, parse_memo
from tests.conftest import FIXTURES, fixtures_dir


def load(relative: str) -> Any:
    return json.loads((fixtures_dir() / relative).read_text())


# (fixture, destination, stroops or None (merge: from effects), asset, muxed id, source)
EXPECTED_OPERATIONS = [
    (
        "operations/payment_credit_alphanum4_USDC_public__java-sdk.json",
        "GAFK7XFZHMLSNV7OJTBO7BAIZA66X6QIBV5RMZZYXK4Q7ZSO52J5C3WQ",
        390_000_000,
        Asset("USDC", "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN"),
        None,
        "GC5LF63GRVIT5ZXXCXLPI3RX2YXKJQFZVBSAO6AUELN3YIMSWPD6Z6FH",
    ),
    (
        "operations/payment_native_muxed_to_muxed_id_testnet__java-sdk-OperationDeserializerTest.json",
        "GDQJVHV2EGSV2P7EETRKKY6VRFGIEP5MICKDWIR3ZWSJSYM7LAEXUIN6",
        3_501_234_567,
        NATIVE,
        987654321,
        "GDRNOJXOSJNN6XYO5WTFTOSDPJ2YHPWGTK76XIFWW4MITYVHXP2QMB6Y",
    ),
    (
        "operations/path_payment_strict_receive_muxed_to_muxed_id_testnet__dotnet-sdk.json",
        "GBZG3SMBL6FPLYYNQP6DMVZHDHCDIR4J4GYRGKE5BYRVLBYN364RBL5S",
        10_000_000,
        Asset("TEST", "GB7DCP4SQBU3XZIJTJ55WEEVRBLSGT3ILJD2VUDMCTSZ4JVS2AUHTEST"),
        66234,
        "GB7BTYMGED4DATO5U2BMPWKYABQQ3QBOQZK5T46N5CSCVPI2G3PVVYMB",
    ),
    (
        "operations/path_payment_strict_send_public__java-sdk.json",
        "GDBKRQWEUJGRWWCAGK75L4PZXM2S3DQQIG6S43Y2GMN3IUFZWCLSRA46",
        5045,  # what the destination received, not the 57.49 XLM sent
        Asset("BTC", "GAUTUYY2THLF7SGITDFMXJVYH3LHDSMGEAKSBU267M2K7A3W543CKUEF"),
        None,
        "GDBKRQWEUJGRWWCAGK75L4PZXM2S3DQQIG6S43Y2GMN3IUFZWCLSRA46",
    ),
    (
        "operations/create_account_public__java-sdk.json",
        "GCYXLFYRSJWRPQ7JYSPHDNFRNXQ377BNUHF3TDZCPCQMVJS2QKMXCT2E",
        40_000_000,
        NATIVE,
        None,
        "GDYG6NVTFCY6HPBRQ3SQNKTDZUR7SS6WAWNEAKAFJW5EMKDGQLPG523C",
    ),
    (
        "operations/account_merge_public__java-sdk.json",
        "GDYG6NVTFCY6HPBRQ3SQNKTDZUR7SS6WAWNEAKAFJW5EMKDGQLPG523C",
        None,
        NATIVE,
        None,
        "GBMZ7GUHNHT6TG4ITOBG46TKA5YMNH7ZKHHJSQRU6PNYBSAELLXNOFDE",
    ),
    (
        "operations/invoke_host_function_asset_balance_changes_standalone__java-sdk.json",
        "GBMLPRFCZDZJPKUPHUSHCKA737GOZL7ERZLGGMJ6YGHBFJZ6ZKMKCZTM",
        5_000_000_000,
        Asset("Hello", "GDJKBIYIPBE2NC5XIZX6GCFZHVWFUA7ONMQUOOVTLIM3BESTI4BYADAN"),
        123456789,
        "GDAT5HWTGIU4TSSZ4752OUC4SABDLTLZFRPZUJ3D6LKBNEPA7V2CIG54",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "destination", "stroops", "asset", "muxed", "source"), EXPECTED_OPERATIONS
)
def test_each_operation_fixture_gives_its_credit(
    fixture: str, destination: str, stroops: int | None, asset: Asset, muxed: int | None, source: str
) -> None:
    record = load(fixture)
    credits = parse_credits(record)
    assert len(credits) == 1
    credit = credits[0]
    assert (credit.destination, credit.amount, credit.asset, credit.muxed_id, credit.source) == (
        destination,
        stroops,
        asset,
        muxed,
        source,
    )
    assert credit.operation_id == record["id"]
    assert credit.transaction_hash == record["transaction_hash"]
    assert credit.ledger == int(record["id"]) >> 32


def test_failed_transaction_gives_no_credit() -> None:
    record = load("operations/path_payment_strict_receive_FAILED_public__java-sdk.json")
    assert record["transaction_successful"] is False
    assert parse_credits(record) == []


def test_every_operation_fixture_is_covered() -> None:
    covered = {fixture for fixture, *_ in EXPECTED_OPERATIONS}
    covered.add("operations/path_payment_strict_receive_FAILED_public__java-sdk.json")
    present = {f"operations/{p.name}" for p in (fixtures_dir() / "operations").glob("*.json")}
    assert present == covered


DESTINATION_FIELD = {
    "payment": "to",
    "path_payment_strict_receive": "to",
    "path_payment_strict_send": "to",
    "create_account": "account",
    "account_merge": "into",
}
PAGES = sorted(p.name for p in (FIXTURES / "pages").glob("*.json")) or ["(fixtures missing)"]


@pytest.mark.parametrize("page", PAGES)
def test_page_fixtures_give_one_credit_per_crediting_operation(page: str) -> None:
    data = load(f"pages/{page}")
    records = data["_embedded"]["records"]
    for record in records:
        if "type" not in record:
            continue  # a transactions page: memos are covered below
        credits = parse_credits(record)
        field = DESTINATION_FIELD.get(record["type"])
        if field is None:
            assert credits == [], record["type"]
            continue
        assert [c.destination for c in credits] == [record[field]]
        assert credits[0].operation_id == record["id"]


def test_account_page_receipts_for_that_account() -> None:
    account = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
    records = load("pages/account_payments_page_GCNL55_public__stellar-docs-openapi.json")["_embedded"][
        "records"
    ]
    mine = [c for r in records for c in parse_credits(r) if c.destination == account]
    # create_account (1 XLM), a merge INTO this account (amount from effects), two payments, five dust
    # payments; only the USD payment went elsewhere.
    assert [c.amount for c in mine] == [10_000_000, None, 6_884_065_454, 3_553_887_598, 1, 1, 1, 1, 1]
    assert [c.operation_type for c in mine][:2] == ["create_account", "account_merge"]


def test_memos_from_transaction_fixtures() -> None:
    text = load("transactions/tx_memo_text_testnet__go-horizonclient.json")
    assert parse_memo(text) == Memo("text", b"2A1V6J5703G47XHY")  # no memo_bytes: old Horizon
    numeric = load("transactions/tx_memo_text_NUMERIC_looking_testnet__go-horizonclient.json")
    memo = parse_memo(numeric)
    assert memo.kind == "text"
    assert memo.reference() is None  # digits in a text memo are not a memo id
    empty = load("transactions/tx_memo_text_EMPTY_string_preconditions_public__stellar-docs-openapi.json")
    assert parse_memo(empty) == Memo("text", b"")
    emoji = load("transactions/tx_memo_text_UTF8_emoji_public__stellar-docs-openapi.json")
    assert parse_memo(emoji) == Memo("text", "Airdrop invite✅xlmget.org".encode())
    none = load("transactions/tx_memo_none_public__stellar-docs-openapi.json")
    assert parse_memo(none).kind == "none"
    hashed = load("transactions/tx_memo_hash_public_2015__java-sdk-TransactionDeserializerTest.json")
    memo = parse_memo(hashed)
    assert memo.kind == "hash"
    assert isinstance(memo.value, bytes)
    assert memo.value.hex().startswith("51041644e83d6ac868c849418b6392ddbe9df53f")


def test_joined_transaction_supplies_memo_and_ledger() -> None:
    record = load("operations/payment_credit_alphanum4_USDC_public__java-sdk.json")
    record["transaction"] = {
        "hash": record["transaction_hash"],
        "successful": True,
        "ledger": 52_446_123,
        "memo_type": "id",
        "memo": "18446744073709551615",
    }
    (credit,) = parse_credits(record, record["transaction"])
    assert credit.memo == Memo("id", 2**64 - 1)
    assert credit.ledger == 52_446_123


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 39.0),
        ("amount", "39"),
        ("amount", "-39.0000000"),
        ("to", "GAFK7XFZHMLSNV7OJTBO7BAIZA66X6QIBV5RMZZYXK4Q7ZSO52J5C3WA"),
        ("to_muxed_id", "18446744073709551616"),
        ("to_muxed_id", 5),
        ("asset_issuer", None),
        ("transaction_successful", "true"),
        ("created_at", "yesterday"),
        ("id", "-1"),
        ("transaction_hash", "xyz"),
    ],
)
def test_malformed_records_raise(field: str, value: object) -> None:
    record = copy.deepcopy(load("operations/payment_credit_alphanum4_USDC_public__java-sdk.json"))
    record[field] = value
    with pytest.raises(RecordError):
        parse_credits(record)


def test_merge_amount_comes_from_the_account_credited_effect() -> None:
    into = "GDYG6NVTFCY6HPBRQ3SQNKTDZUR7SS6WAWNEAKAFJW5EMKDGQLPG523C"
    effects = [
        {"type": "account_debited", "account": "G…", "asset_type": "native", "amount": "9.9999900"},
        {"type": "account_credited", "account": into, "asset_type": "native", "amount": "9.9999900"},
    ]
    assert merged_amount(effects, into) == 99_999_900
    with pytest.raises(RecordError):
        merged_amount(effects[:1], into)
