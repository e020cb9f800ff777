"""A real `LedgerHeader` XDR for each closed ledger; its SHA-256 is the ledger hash."""

from __future__ import annotations

import hashlib

from stellar_sdk import xdr as stellar_xdr

PROTOCOL_VERSION = 23
MAX_TX_SET_SIZE = 1000


def build_header(
    sequence: int,
    previous_hash: bytes,
    close_time: int,
    tx_hashes: list[bytes],
    result_xdrs: list[str],
    total_coins: int,
    fee_pool: int,
    base_fee: int,
    base_reserve: int,
) -> tuple[str, bytes]:
    """Returns (header XDR base64, ledger hash)."""
    tx_set_hash = hashlib.sha256(previous_hash + b"".join(tx_hashes)).digest()
    result_hash = hashlib.sha256("".join(result_xdrs).encode()).digest()
    # No bucket list here; a hash that changes with every ledger stands in for it.
    bucket_hash = hashlib.sha256(b"devnet-buckets" + sequence.to_bytes(4, "big")).digest()
    header = stellar_xdr.LedgerHeader(
        ledger_version=stellar_xdr.Uint32(PROTOCOL_VERSION),
        previous_ledger_hash=stellar_xdr.Hash(previous_hash),
        scp_value=stellar_xdr.StellarValue(
            tx_set_hash=stellar_xdr.Hash(tx_set_hash),
            close_time=stellar_xdr.TimePoint(stellar_xdr.Uint64(close_time)),
            upgrades=[],
            ext=stellar_xdr.StellarValueExt(stellar_xdr.StellarValueType.STELLAR_VALUE_BASIC),
        ),
        tx_set_result_hash=stellar_xdr.Hash(result_hash),
        bucket_list_hash=stellar_xdr.Hash(bucket_hash),
        ledger_seq=stellar_xdr.Uint32(sequence),
        total_coins=stellar_xdr.Int64(total_coins),
        fee_pool=stellar_xdr.Int64(fee_pool),
        inflation_seq=stellar_xdr.Uint32(0),
        id_pool=stellar_xdr.Uint64(0),
        base_fee=stellar_xdr.Uint32(base_fee),
        base_reserve=stellar_xdr.Uint32(base_reserve),
        max_tx_set_size=stellar_xdr.Uint32(MAX_TX_SET_SIZE),
        skip_list=[stellar_xdr.Hash(bytes(32)) for _ in range(4)],
        ext=stellar_xdr.LedgerHeaderExt(0),
    )
    raw = header.to_xdr_bytes()
    return header.to_xdr(), hashlib.sha256(raw).digest()
