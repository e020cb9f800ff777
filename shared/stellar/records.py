"""Turn Horizon operation records into Credits (SPEC §4). Malformed input raises RecordError.

A credit is produced only for operations of successful transactions. Which account was credited:
`payment` and both path payments → `to` (the destination asset and received `amount`);
`create_account` → `account` (native `starting_balance`); `account_merge` → `into` (the amount is not
in the record: it is read from the operation's `account_credited` effect); `invoke_host_function` →
each `asset_balance_changes` entry of type `transfer` (or `mint`: money that arrived from the asset's
issuer through a contract) whose `to` is a G… account.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from shared import jsontext
from shared.domain.amounts import AmountError, parse_horizon_amount
from shared.domain.assets import NATIVE, Asset, AssetError, asset_from_horizon
from shared.domain.credits import Credit
from shared.domain.references import NO_MEMO, UINT64_MAX, Memo
from shared.domain.strkeys import is_account_id

CLASSIC_PAYMENTS = frozenset({"payment", "path_payment_strict_receive", "path_payment_strict_send"})
CREDITING_TYPES = CLASSIC_PAYMENTS | {"create_account", "account_merge", "invoke_host_function"}
CONTRACT_CREDIT_TYPES = frozenset({"transfer", "mint"})


class RecordError(ValueError):
    """A Horizon record that does not have the shape Horizon documents."""


_TX_HASH = re.compile(r"[0-9a-f]{64}")
# A payer as Horizon prints it: G… or C… (56 characters) or M… (69).
_ADDRESS = re.compile(r"[GC][A-Z2-7]{55}|M[A-Z2-7]{68}", re.ASCII)
UINT32_MAX = 2**32 - 1


def _str(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise RecordError(f"field {key!r} missing or not a string")
    return value


def is_paging_token(value: object) -> TypeGuard[str]:
    """ASCII digits of a non-negative int64 (str.isdigit() alone also takes "²" and "١٢")."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 19
        and value.isascii()
        and value.isdigit()
        and int(value) <= 2**63 - 1
    )


def _token(record: Mapping[str, Any], key: str) -> str:
    value = _str(record, key)
    if not is_paging_token(value):
        raise RecordError(f"field {key!r} is not a paging token")
    return value


def _account(record: Mapping[str, Any], key: str) -> str:
    value = _str(record, key)
    if not is_account_id(value):
        raise RecordError(f"field {key!r} is not a valid account id")
    return value


def _uint64(value: object, key: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 20:
        raise RecordError(f"field {key!r} is not a uint64 string")
    number = int(value)
    if number > UINT64_MAX:
        raise RecordError(f"field {key!r} is above the uint64 range")
    return number


def _amount(record: Mapping[str, Any], key: str) -> int:
    try:
        return parse_horizon_amount(record.get(key))
    except AmountError as exc:
        raise RecordError(f"field {key!r}: {exc}") from None


def _asset(record: Mapping[str, Any], prefix: str = "") -> Asset:
    try:
        return asset_from_horizon(
            record.get(f"{prefix}asset_type"),
            record.get(f"{prefix}asset_code"),
            record.get(f"{prefix}asset_issuer"),
        )
    except AssetError as exc:
        raise RecordError(str(exc)) from None


def parse_time(value: object, key: str = "created_at") -> datetime:
    if not isinstance(value, str) or not value.endswith("Z"):
        raise RecordError(f"field {key!r} is not an RFC 3339 UTC time")
    try:
        parsed = datetime.fromisoformat(value[:-1])
    except ValueError:
        raise RecordError(f"field {key!r} is not an RFC 3339 UTC time") from None
    if parsed.tzinfo is not None:
        raise RecordError(f"field {key!r} is not an RFC 3339 UTC time")
    return parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StreamedRecord:
    """An operation record as a stream delivers it (`join=transactions`), parsed."""

    closed_at: datetime
    transaction: Mapping[str, Any] | None
    credits: list[Credit]  # to any account; the caller keeps those to accounts it watches


def parse_streamed(text: str | bytes, paging_token: str) -> StreamedRecord:
    """Parse a stream event's data: JSON errors (ValueError), RecursionError or RecordError if malformed."""
    record = jsontext.loads(text)
    if not isinstance(record, dict):
        raise RecordError("record is not a JSON object")
    if record.get("paging_token") != paging_token:
        raise RecordError("record paging_token differs from the event id")
    closed_at = parse_time(record.get("created_at"))
    transaction = record.get("transaction")
    return StreamedRecord(closed_at, transaction, parse_credits(record, transaction))


def parse_memo(transaction: Mapping[str, Any] | None) -> Memo:
    """The memo of a Horizon transaction record (text compared as raw bytes via `memo_bytes`)."""
    if transaction is None:
        return NO_MEMO
    kind = transaction.get("memo_type")
    if kind == "none":
        return NO_MEMO
    if kind == "id":
        value = _uint64(transaction.get("memo"), "memo")
        if value is None:
            raise RecordError("id memo without a value")
        return Memo("id", value)
    if kind == "text":
        if "memo_bytes" in transaction:
            return Memo("text", _b64(transaction.get("memo_bytes"), "memo_bytes"))
        text = transaction.get("memo", "")  # old Horizons, and empty memos with neither key
        if not isinstance(text, str):
            raise RecordError("text memo is not a string")
        return Memo("text", text.encode())
    if kind in ("hash", "return"):
        raw = _b64(transaction.get("memo"), "memo")
        if len(raw) != 32:
            raise RecordError(f"{kind} memo is not 32 bytes")
        return Memo(kind, raw)
    raise RecordError(f"unknown memo_type {kind!r}")


def _b64(value: object, key: str) -> bytes:
    if not isinstance(value, str):
        raise RecordError(f"field {key!r} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(f"field {key!r} is not valid base64") from None


def ledger_of_token(paging_token: str) -> int:
    """Operation ids are TOIDs: ledger << 32 | transaction index << 12 | operation index."""
    return int(paging_token) >> 32


def parse_credits(record: Mapping[str, Any], transaction: Mapping[str, Any] | None = None) -> list[Credit]:
    """Every credit in one operation record, to any account; [] for non-crediting or failed operations.

    `transaction` is the operation's transaction record (embedded by `join=transactions`); without it
    the memo is unknown and treated as absent.
    """
    if not isinstance(record, Mapping):
        raise RecordError("record is not a JSON object")
    operation_id = _token(record, "id")
    paging_token = _token(record, "paging_token")
    op_type = _str(record, "type")
    successful = record.get("transaction_successful")
    if not isinstance(successful, bool):
        raise RecordError("field 'transaction_successful' missing or not a boolean")
    if op_type not in CREDITING_TYPES or not successful:
        return []
    closed_at = parse_time(record.get("created_at"))
    tx_hash = _str(record, "transaction_hash")
    if _TX_HASH.fullmatch(tx_hash) is None:
        raise RecordError("field 'transaction_hash' is not a transaction hash")
    if transaction is not None:
        if not isinstance(transaction, Mapping):
            raise RecordError("embedded transaction is not a JSON object")
        if transaction.get("hash") not in (None, tx_hash):
            raise RecordError("embedded transaction does not belong to this operation")
        if transaction.get("successful") is False:
            return []
    memo = parse_memo(transaction)
    ledger_value = transaction.get("ledger") if transaction is not None else None
    if ledger_value is None:
        ledger = ledger_of_token(operation_id)
    elif type(ledger_value) is int and 0 < ledger_value <= UINT32_MAX:
        ledger = ledger_value
    else:  # a ledger sequence is a uint32; anything else would not fit the store's column either
        raise RecordError("field 'ledger' of the transaction is not a ledger sequence")

    def credit(
        part: int, destination: str, amount: int | None, asset: Asset, source: str | None, muxed: int | None
    ) -> Credit:
        return Credit(
            operation_id=operation_id,
            part=part,
            operation_type=op_type,
            destination=destination,
            amount=amount,
            asset=asset,
            source=source,
            muxed_id=muxed,
            memo=memo,
            transaction_hash=tx_hash,
            ledger=ledger,
            closed_at=closed_at,
            paging_token=paging_token,
        )

    if op_type in CLASSIC_PAYMENTS:
        return [
            credit(
                0,
                _account(record, "to"),
                _amount(record, "amount"),
                _asset(record),
                _account(record, "from"),
                _uint64(record.get("to_muxed_id"), "to_muxed_id"),
            )
        ]
    if op_type == "create_account":
        return [
            credit(
                0,
                _account(record, "account"),
                _amount(record, "starting_balance"),
                NATIVE,
                _account(record, "funder"),
                None,
            )
        ]
    if op_type == "account_merge":
        return [
            credit(
                0,
                _account(record, "into"),
                None,
                NATIVE,
                _account(record, "account"),
                _uint64(record.get("into_muxed_id"), "into_muxed_id"),
            )
        ]
    return _contract_credits(record, credit)


def _contract_credits(record: Mapping[str, Any], credit: Any) -> list[Credit]:
    changes = record.get("asset_balance_changes")
    if changes is None:
        return []  # Go renders an empty slice as null
    if not isinstance(changes, Sequence) or isinstance(changes, str):
        raise RecordError("field 'asset_balance_changes' is not a list")
    credits: list[Credit] = []
    for part, change in enumerate(changes):
        if not isinstance(change, Mapping):
            raise RecordError("asset balance change is not an object")
        if change.get("type") not in CONTRACT_CREDIT_TYPES:
            continue
        to = change.get("to")
        if not is_account_id(to):
            continue  # credited to a contract (C…) or absent: not a receiving account
        source = change.get("from")
        if not isinstance(source, str) or _ADDRESS.fullmatch(source) is None:
            source = None  # shown as unknown rather than stored as whatever arrived
        credits.append(
            credit(
                part,
                to,
                _amount(change, "amount"),
                _asset(change),
                source,
                _uint64(change.get("destination_muxed_id"), "destination_muxed_id"),
            )
        )
    return credits


def merged_amount(effects: Sequence[Mapping[str, Any]], into: str) -> int:
    """The amount an `account_merge` credited to `into`, from the operation's effects."""
    for effect in effects:
        if effect.get("type") == "account_credited" and effect.get("account") == into:
            if effect.get("asset_type") != "native":
                raise RecordError("account_credited effect of a merge is not native")
            return _amount(effect, "amount")
    raise RecordError("no account_credited effect for the merge destination")
