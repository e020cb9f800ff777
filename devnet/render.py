"""Horizon JSON resources, key for key in Go struct order (see docs/devnet.md for the sources)."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import quote_plus

from .amounts import format_amount
from .history import EffectRecord, LedgerRecord, MuxedRef, OperationRecord, TransactionRecord
from .state import AccountEntry


def rfc3339(timestamp: int) -> str:
    """Go's time.Time JSON for whole seconds in UTC: `2020-03-04T22:46:47Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def link(href: str) -> dict[str, Any]:
    """hal.NewLink: `templated` is set exactly when the href contains a URI template."""
    if "{" in href:
        return {"href": href, "templated": True}
    return {"href": href}


def encode_query(params: list[tuple[str, str]]) -> str:
    """Go's url.Values.Encode(): keys sorted, values in order, QueryEscape'd."""
    ordered = sorted(params, key=lambda kv: kv[0])
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in ordered)


def _account_fields(prefix: str, ref: MuxedRef) -> dict[str, Any]:
    fields: dict[str, Any] = {prefix: ref.account_id}
    if ref.muxed_address is not None:
        fields[f"{prefix}_muxed"] = ref.muxed_address
        fields[f"{prefix}_muxed_id"] = str(ref.muxed_id)
    return fields


def transaction(base: str, tx: TransactionRecord) -> dict[str, Any]:
    pt = tx.paging_token
    self_href = f"{base}/transactions/{tx.hash}"
    out: dict[str, Any] = {}
    # Horizon's custom MarshalJSON puts memo and memo_bytes first (and only when they apply).
    if tx.memo.type != "none":
        out["memo"] = tx.memo.value or ""
    if tx.memo.type == "text":
        out["memo_bytes"] = base64.b64encode(tx.memo.text_bytes or b"").decode()
    out["_links"] = {
        "self": link(self_href),
        "account": link(f"{base}/accounts/{tx.source.account_id}"),
        "ledger": link(f"{base}/ledgers/{tx.ledger}"),
        "operations": link(f"{self_href}/operations{{?cursor,limit,order}}"),
        "effects": link(f"{self_href}/effects{{?cursor,limit,order}}"),
        "precedes": link(f"{base}/transactions?order=asc&cursor={pt}"),
        "succeeds": link(f"{base}/transactions?order=desc&cursor={pt}"),
        "transaction": link(self_href),
    }
    out["id"] = tx.hash
    out["paging_token"] = pt
    out["successful"] = tx.successful
    out["hash"] = tx.hash
    out["ledger"] = tx.ledger
    out["created_at"] = rfc3339(tx.closed_at)
    out["source_account"] = tx.source.account_id
    if tx.source.muxed_address is not None:
        out["account_muxed"] = tx.source.muxed_address
        out["account_muxed_id"] = str(tx.source.muxed_id)
    out["source_account_sequence"] = str(tx.source_sequence)
    out["fee_account"] = tx.fee_account.account_id
    if tx.fee_account.muxed_address is not None:
        out["fee_account_muxed"] = tx.fee_account.muxed_address
        out["fee_account_muxed_id"] = str(tx.fee_account.muxed_id)
    out["fee_charged"] = str(tx.fee_charged)
    out["max_fee"] = str(tx.max_fee)
    out["operation_count"] = tx.operation_count
    out["envelope_xdr"] = tx.envelope_xdr
    out["result_xdr"] = tx.result_xdr
    # result_meta_xdr omitted, as SDF's Horizon does with SKIP_TXMETA.
    out["fee_meta_xdr"] = tx.fee_meta_xdr
    out["memo_type"] = tx.memo.type
    out["signatures"] = list(tx.signatures)
    if tx.time_bounds is not None:
        min_time, max_time = tx.time_bounds
        out["valid_after"] = rfc3339(min_time)
        if max_time:
            out["valid_before"] = rfc3339(max_time)
        bounds: dict[str, str] = {"min_time": str(min_time)}
        if max_time:
            bounds["max_time"] = str(max_time)
        out["preconditions"] = {"timebounds": bounds}
    return out


def operation(base: str, op: OperationRecord, join_transaction: bool = False) -> dict[str, Any]:
    pt = op.paging_token
    self_href = f"{base}/operations/{op.id}"
    out: dict[str, Any] = {
        "_links": {
            "self": link(self_href),
            "transaction": link(f"{base}/transactions/{op.transaction.hash}"),
            "effects": link(f"{self_href}/effects"),
            "succeeds": link(f"{base}/effects?order=desc&cursor={pt}"),
            "precedes": link(f"{base}/effects?order=asc&cursor={pt}"),
        },
        "id": str(op.id),
        "paging_token": pt,
        "transaction_successful": op.successful,
        **_account_fields("source_account", op.source),
        "type": op.type,
        "type_i": op.type_i,
        "created_at": rfc3339(op.transaction.closed_at),
        "transaction_hash": op.transaction.hash,
    }
    if join_transaction:
        out["transaction"] = transaction(base, op.transaction)
    out.update(op.details)
    return out


def effect(base: str, record: EffectRecord) -> dict[str, Any]:
    pt = record.paging_token
    return {
        "_links": {
            "operation": link(f"{base}/operations/{record.operation_id}"),
            "succeeds": link(f"{base}/effects?order=desc&cursor={pt}"),
            "precedes": link(f"{base}/effects?order=asc&cursor={pt}"),
        },
        "id": pt,
        "paging_token": pt,
        **_account_fields("account", record.account),
        "type": record.type,
        "type_i": record.type_i,
        "created_at": rfc3339(record.closed_at),
        **record.details,
    }


def ledger(base: str, record: LedgerRecord) -> dict[str, Any]:
    self_href = f"{base}/ledgers/{record.sequence}"
    out: dict[str, Any] = {
        "_links": {
            "self": link(self_href),
            "transactions": link(f"{self_href}/transactions{{?cursor,limit,order}}"),
            "operations": link(f"{self_href}/operations{{?cursor,limit,order}}"),
            "payments": link(f"{self_href}/payments{{?cursor,limit,order}}"),
            "effects": link(f"{self_href}/effects{{?cursor,limit,order}}"),
        },
        "id": record.hash,
        "paging_token": record.paging_token,
        "hash": record.hash,
    }
    if record.prev_hash:
        out["prev_hash"] = record.prev_hash
    out.update(
        {
            "sequence": record.sequence,
            "successful_transaction_count": record.successful_transaction_count,
            "failed_transaction_count": record.failed_transaction_count,
            "operation_count": record.operation_count,
            "tx_set_operation_count": record.tx_set_operation_count,
            "closed_at": rfc3339(record.closed_at),
            "total_coins": format_amount(record.total_coins),
            "fee_pool": format_amount(record.fee_pool),
            "base_fee_in_stroops": record.base_fee,
            "base_reserve_in_stroops": record.base_reserve,
            "max_tx_set_size": record.max_tx_set_size,
            "protocol_version": record.protocol_version,
            "header_xdr": record.header_xdr,
        }
    )
    return out


def account(base: str, entry: AccountEntry, modified_at: int | None) -> dict[str, Any]:
    self_href = f"{base}/accounts/{entry.account_id}"
    balances: list[dict[str, Any]] = []
    for line in sorted(entry.trustlines.values(), key=lambda tl: (tl.asset.code, tl.asset.issuer)):
        balances.append(
            {
                "balance": format_amount(line.balance),
                "limit": format_amount(line.limit),
                "buying_liabilities": format_amount(0),
                "selling_liabilities": format_amount(0),
                "last_modified_ledger": line.last_modified_ledger,
                "is_authorized": True,
                "is_authorized_to_maintain_liabilities": True,
                **line.asset.horizon_fields(),
            }
        )
    balances.append(
        {
            "balance": format_amount(entry.balance),
            "buying_liabilities": format_amount(0),
            "selling_liabilities": format_amount(0),
            "asset_type": "native",
        }
    )
    out: dict[str, Any] = {
        "_links": {
            "self": link(self_href),
            "transactions": link(f"{self_href}/transactions{{?cursor,limit,order}}"),
            "operations": link(f"{self_href}/operations{{?cursor,limit,order}}"),
            "payments": link(f"{self_href}/payments{{?cursor,limit,order}}"),
            "effects": link(f"{self_href}/effects{{?cursor,limit,order}}"),
            "offers": link(f"{self_href}/offers{{?cursor,limit,order}}"),
            "trades": link(f"{self_href}/trades{{?cursor,limit,order}}"),
            "data": link(f"{self_href}/data/{{key}}"),
        },
        "id": entry.account_id,
        "account_id": entry.account_id,
        "sequence": str(entry.seq_num),
    }
    if entry.seq_ledger is not None and entry.seq_time is not None:
        out["sequence_ledger"] = entry.seq_ledger
        out["sequence_time"] = str(entry.seq_time)
    out.update(
        {
            "subentry_count": entry.num_subentries,
            "last_modified_ledger": entry.last_modified_ledger,
            "last_modified_time": None if modified_at is None else rfc3339(modified_at),
            "thresholds": {"low_threshold": 0, "med_threshold": 0, "high_threshold": 0},
            "flags": {
                "auth_required": False,
                "auth_revocable": False,
                "auth_immutable": False,
                "auth_clawback_enabled": False,
            },
            "balances": balances,
            "signers": [{"weight": 1, "key": entry.account_id, "type": "ed25519_public_key"}],
            # Go marshals maps with sorted keys.
            "data": {name: base64.b64encode(entry.data[name]).decode() for name in sorted(entry.data)},
            "num_sponsoring": 0,
            "num_sponsored": 0,
            "paging_token": entry.account_id,
        }
    )
    return out


def page(self_url: str, next_url: str, prev_url: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "_links": {"self": link(self_url), "next": link(next_url), "prev": link(prev_url)},
        "_embedded": {"records": records},
    }


_TRADE_PAIR = (
    "base_asset_type={base_asset_type}&base_asset_code={base_asset_code}&base_asset_issuer={base_asset_issuer}"
    "&counter_asset_type={counter_asset_type}&counter_asset_code={counter_asset_code}"
    "&counter_asset_issuer={counter_asset_issuer}"
)

# Root `_links` in Go struct order (horizon.Root), with Horizon's URI templates.
ROOT_LINKS: tuple[tuple[str, str], ...] = (
    ("account", "/accounts/{account_id}"),
    ("accounts", "/accounts{?signer,sponsor,asset,liquidity_pool,cursor,limit,order}"),
    ("account_transactions", "/accounts/{account_id}/transactions{?cursor,limit,order}"),
    ("claimable_balances", "/claimable_balances{?asset,sponsor,claimant,cursor,limit,order}"),
    ("assets", "/assets{?asset_code,asset_issuer,cursor,limit,order}"),
    ("effects", "/effects{?cursor,limit,order}"),
    ("fee_stats", "/fee_stats"),
    ("friendbot", "/friendbot{?addr}"),
    ("ledger", "/ledgers/{sequence}"),
    ("ledgers", "/ledgers{?cursor,limit,order}"),
    ("liquidity_pools", "/liquidity_pools{?reserves,account,cursor,limit,order}"),
    ("offer", "/offers/{offer_id}"),
    ("offers", "/offers{?selling,buying,seller,sponsor,cursor,limit,order}"),
    ("operation", "/operations/{id}"),
    ("operations", "/operations{?cursor,limit,order,include_failed}"),
    (
        "order_book",
        "/order_book{?selling_asset_type,selling_asset_code,selling_asset_issuer,"
        "buying_asset_type,buying_asset_code,buying_asset_issuer,limit}",
    ),
    ("payments", "/payments{?cursor,limit,order,include_failed}"),
    ("self", "/"),
    (
        "strict_receive_paths",
        "/paths/strict-receive{?source_assets,source_account,destination_account,destination_asset_type,"
        "destination_asset_issuer,destination_asset_code,destination_amount}",
    ),
    (
        "strict_send_paths",
        "/paths/strict-send{?destination_account,destination_assets,source_asset_type,source_asset_issuer,"
        "source_asset_code,source_amount}",
    ),
    ("trade_aggregations", "/trade_aggregations?" + _TRADE_PAIR),
    ("trades", "/trades?" + _TRADE_PAIR),
    ("transaction", "/transactions/{hash}"),
    ("transactions", "/transactions{?cursor,limit,order}"),
)


def root(
    base: str,
    *,
    horizon_version: str,
    core_version: str,
    latest: int,
    latest_closed_at: int,
    elder: int,
    passphrase: str,
    protocol_version: int,
) -> dict[str, Any]:
    return {
        "_links": {name: link(base + path) for name, path in ROOT_LINKS},
        "horizon_version": horizon_version,
        "core_version": core_version,
        "ingest_latest_ledger": latest,
        "history_latest_ledger": latest,
        "history_latest_ledger_closed_at": rfc3339(latest_closed_at),
        "history_elder_ledger": elder,
        "core_latest_ledger": latest,
        "network_passphrase": passphrase,
        "current_protocol_version": protocol_version,
        "supported_protocol_version": protocol_version,
        "core_supported_protocol_version": protocol_version,
    }
