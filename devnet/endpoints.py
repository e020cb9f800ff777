"""Horizon's collection endpoints as (query, render) pairs shared by REST pages and SSE streams."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stellar_sdk import StrKey

from . import render
from .history import EffectRecord, LedgerRecord, OperationRecord, TransactionRecord, page
from .network import DevNet
from .params import PageParams
from .problems import bad_request, not_found

Rendered = tuple[str, dict[str, Any]]  # (paging token, JSON record)
Fetch = Callable[[PageParams, str], list[Rendered]]


@dataclass
class Collection:
    fetch: Fetch
    pair_cursor: bool = False
    # Raises a problem when the collection's owner does not exist (checked before a stream starts).
    precheck: Callable[[], None] | None = None


def _operations(
    net: DevNet, source: Callable[[], Sequence[OperationRecord]], always_failed: bool = False
) -> Fetch:
    def fetch(params: PageParams, base: str) -> list[Rendered]:
        include_failed = always_failed or params.include_failed
        keep = None if include_failed else _successful_op
        items = page(source(), params.cursor, params.descending, params.limit, keep)
        return [(op.paging_token, render.operation(base, op, params.join_transactions)) for op in items]

    return fetch


def _successful_op(op: OperationRecord) -> bool:
    return op.successful


def _successful_tx(tx: TransactionRecord) -> bool:
    return tx.successful


def _transactions(
    net: DevNet, source: Callable[[], Sequence[TransactionRecord]], always_failed: bool = False
) -> Fetch:
    def fetch(params: PageParams, base: str) -> list[Rendered]:
        keep = None if (always_failed or params.include_failed) else _successful_tx
        items = page(source(), params.cursor, params.descending, params.limit, keep)
        return [(tx.paging_token, render.transaction(base, tx)) for tx in items]

    return fetch


def _effects(source: Callable[[], Sequence[EffectRecord]]) -> Fetch:
    def fetch(params: PageParams, base: str) -> list[Rendered]:
        items = page(source(), params.cursor, params.descending, params.limit)
        return [(e.paging_token, render.effect(base, e)) for e in items]

    return fetch


def ledgers(net: DevNet) -> Collection:
    def fetch(params: PageParams, base: str) -> list[Rendered]:
        items: list[LedgerRecord] = page(net.history.ledgers, params.cursor, params.descending, params.limit)
        return [(lg.paging_token, render.ledger(base, lg)) for lg in items]

    return Collection(fetch)


# --- network-wide ----------------------------------------------------------------------------


def payments(net: DevNet) -> Collection:
    return Collection(_operations(net, lambda: net.history.payments))


def operations(net: DevNet) -> Collection:
    return Collection(_operations(net, lambda: net.history.operations))


def transactions(net: DevNet) -> Collection:
    return Collection(_transactions(net, lambda: net.history.transactions))


def effects(net: DevNet) -> Collection:
    return Collection(_effects(lambda: net.history.effects), pair_cursor=True)


# --- per account -----------------------------------------------------------------------------


def check_account_id(account_id: str) -> None:
    if not StrKey.is_valid_ed25519_public_key(account_id):
        raise bad_request("account_id", "invalid address")


def _account_known(net: DevNet, account_id: str) -> Callable[[], None]:
    def check() -> None:
        # Horizon looks the account up in history_accounts: unknown there means 404.
        if account_id not in net.history.known_accounts:
            raise not_found()

    return check


def account_payments(net: DevNet, account_id: str) -> Collection:
    check_account_id(account_id)
    return Collection(
        _operations(net, lambda: net.history.account_payments.get(account_id, [])),
        precheck=_account_known(net, account_id),
    )


def account_operations(net: DevNet, account_id: str) -> Collection:
    check_account_id(account_id)
    return Collection(
        _operations(net, lambda: net.history.account_operations.get(account_id, [])),
        precheck=_account_known(net, account_id),
    )


def account_transactions(net: DevNet, account_id: str) -> Collection:
    check_account_id(account_id)
    return Collection(
        _transactions(net, lambda: net.history.account_transactions.get(account_id, [])),
        precheck=_account_known(net, account_id),
    )


def account_effects(net: DevNet, account_id: str) -> Collection:
    check_account_id(account_id)
    return Collection(
        _effects(lambda: net.history.account_effects.get(account_id, [])),
        pair_cursor=True,
        precheck=_account_known(net, account_id),
    )


# --- per transaction / ledger / operation -----------------------------------------------------


def lookup_transaction(net: DevNet, tx_hash: str) -> TransactionRecord:
    if len(tx_hash) != 64 or tx_hash.lower() != tx_hash or not all(c in "0123456789abcdef" for c in tx_hash):
        raise bad_request("tx_id", "invalid hash format")
    tx = net.history.transactions_by_hash.get(tx_hash)
    if tx is None:
        raise not_found()
    return tx


def _tx_operations(net: DevNet, tx_hash: str, payments_only: bool) -> list[OperationRecord]:
    tx = net.history.transactions_by_hash.get(tx_hash)
    if tx is None:
        return []
    first = tx.id
    ops = [net.history.operations_by_id[first + i] for i in range(1, tx.operation_count + 1)]
    return [op for op in ops if op.is_payment] if payments_only else ops


def transaction_payments(net: DevNet, tx_hash: str) -> Collection:
    lookup_transaction(net, tx_hash)
    return Collection(_operations(net, lambda: _tx_operations(net, tx_hash, True), always_failed=True))


def transaction_operations(net: DevNet, tx_hash: str) -> Collection:
    lookup_transaction(net, tx_hash)
    return Collection(_operations(net, lambda: _tx_operations(net, tx_hash, False), always_failed=True))


def transaction_effects(net: DevNet, tx_hash: str) -> Collection:
    lookup_transaction(net, tx_hash)

    def source() -> list[EffectRecord]:
        return [
            e
            for op in _tx_operations(net, tx_hash, False)
            for e in net.history.effects_by_operation.get(op.id, [])
        ]

    return Collection(_effects(source), pair_cursor=True)


def lookup_ledger(net: DevNet, sequence_text: str) -> LedgerRecord:
    if not sequence_text.isdigit():
        raise bad_request("ledger_id", "Ledger ID must be an integer higher than 0")
    record = net.history.ledger(int(sequence_text))
    if record is None:
        raise not_found()
    return record


def _ledger_ops(net: DevNet, sequence: int, payments_only: bool) -> list[OperationRecord]:
    items = net.history.payments if payments_only else net.history.operations
    return [op for op in items if op.transaction.ledger == sequence]


def ledger_payments(net: DevNet, sequence_text: str) -> Collection:
    sequence = lookup_ledger(net, sequence_text).sequence
    return Collection(_operations(net, lambda: _ledger_ops(net, sequence, True)))


def ledger_operations(net: DevNet, sequence_text: str) -> Collection:
    sequence = lookup_ledger(net, sequence_text).sequence
    return Collection(_operations(net, lambda: _ledger_ops(net, sequence, False)))


def ledger_transactions(net: DevNet, sequence_text: str) -> Collection:
    sequence = lookup_ledger(net, sequence_text).sequence
    return Collection(
        _transactions(net, lambda: [tx for tx in net.history.transactions if tx.ledger == sequence])
    )


def lookup_operation(net: DevNet, op_id_text: str) -> OperationRecord:
    if not op_id_text.isdigit():
        raise bad_request("id", "invalid operation id")
    op = net.history.operations_by_id.get(int(op_id_text))
    if op is None:
        raise not_found()
    return op


def operation_effects(net: DevNet, op_id_text: str) -> Collection:
    op = lookup_operation(net, op_id_text)
    return Collection(_effects(lambda: net.history.effects_by_operation.get(op.id, [])), pair_cursor=True)
