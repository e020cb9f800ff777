"""What Horizon's history database holds: closed ledgers, transactions, operations and effects.

Everything is appended in TOID order as ledgers close, so every list stays sorted and a page is a
bisect plus a short scan.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .toid import toid

SortKey = tuple[int, int]


@dataclass(frozen=True)
class MuxedRef:
    """An account as a transaction names it: the G address plus, for an `M…` address, its id."""

    account_id: str
    muxed_address: str | None = None
    muxed_id: int | None = None

    @property
    def address(self) -> str:
        return self.muxed_address or self.account_id


@dataclass
class LedgerRecord:
    sequence: int
    hash: str
    prev_hash: str
    closed_at: int
    successful_transaction_count: int
    failed_transaction_count: int
    operation_count: int
    tx_set_operation_count: int
    total_coins: int
    fee_pool: int
    base_fee: int
    base_reserve: int
    max_tx_set_size: int
    protocol_version: int
    header_xdr: str

    @property
    def paging_token(self) -> str:
        return str(toid(self.sequence))

    @property
    def sort_key(self) -> SortKey:
        return (toid(self.sequence), 0)


@dataclass
class MemoInfo:
    """A memo as Horizon stores it (`memo_type`, the rendered `memo`, and raw bytes for text)."""

    type: str
    value: str | None = None
    text_bytes: bytes | None = None


@dataclass
class TransactionRecord:
    hash: str
    ledger: int
    index: int
    closed_at: int
    successful: bool
    source: MuxedRef
    source_sequence: int
    fee_account: MuxedRef
    fee_charged: int
    max_fee: int
    operation_count: int
    envelope_xdr: str
    result_xdr: str
    fee_meta_xdr: str
    memo: MemoInfo
    signatures: list[str]
    time_bounds: tuple[int, int] | None
    participants: set[str] = field(default_factory=set)
    # Not rendered: kept so a re-submission of a failed transaction can be answered again.
    op_codes: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return toid(self.ledger, self.index)

    @property
    def paging_token(self) -> str:
        return str(self.id)

    @property
    def sort_key(self) -> SortKey:
        return (self.id, 0)


@dataclass
class OperationRecord:
    id: int
    transaction: TransactionRecord
    index: int
    type: str
    type_i: int
    source: MuxedRef
    details: dict[str, Any]
    participants: set[str]
    is_payment: bool

    @property
    def paging_token(self) -> str:
        return str(self.id)

    @property
    def sort_key(self) -> SortKey:
        return (self.id, 0)

    @property
    def successful(self) -> bool:
        return self.transaction.successful


@dataclass
class EffectRecord:
    operation_id: int
    order: int
    account: MuxedRef
    type: str
    type_i: int
    details: dict[str, Any]
    closed_at: int

    @property
    def paging_token(self) -> str:
        return f"{self.operation_id:019d}-{self.order:010d}"

    @property
    def sort_key(self) -> SortKey:
        return (self.operation_id, self.order)


R = TypeVar("R", LedgerRecord, TransactionRecord, OperationRecord, EffectRecord)


def page(
    items: Sequence[R],
    cursor: SortKey | None,
    descending: bool,
    limit: int,
    keep: Callable[[R], bool] | None = None,
) -> list[R]:
    """Up to `limit` items strictly after `cursor` in the requested order (Horizon's `id > cursor`)."""
    result: list[R] = []
    for item in _scan(items, cursor, descending):
        if keep is None or keep(item):
            result.append(item)
            if len(result) >= limit:
                break
    return result


def _scan(items: Sequence[R], cursor: SortKey | None, descending: bool) -> Iterator[R]:
    if descending:
        end = len(items) if cursor is None else bisect.bisect_left(items, cursor, key=_key)
        for i in range(end - 1, -1, -1):
            yield items[i]
    else:
        start = 0 if cursor is None else bisect.bisect_right(items, cursor, key=_key)
        for i in range(start, len(items)):
            yield items[i]


def _key(item: LedgerRecord | TransactionRecord | OperationRecord | EffectRecord) -> SortKey:
    return item.sort_key


class History:
    """The history store with the indexes Horizon's endpoints need."""

    def __init__(self) -> None:
        self.ledgers: list[LedgerRecord] = []
        self.transactions: list[TransactionRecord] = []
        self.transactions_by_hash: dict[str, TransactionRecord] = {}
        self.operations: list[OperationRecord] = []
        self.operations_by_id: dict[int, OperationRecord] = {}
        self.payments: list[OperationRecord] = []
        self.effects: list[EffectRecord] = []
        self.effects_by_operation: dict[int, list[EffectRecord]] = {}
        self.account_operations: dict[str, list[OperationRecord]] = {}
        self.account_payments: dict[str, list[OperationRecord]] = {}
        self.account_transactions: dict[str, list[TransactionRecord]] = {}
        self.account_effects: dict[str, list[EffectRecord]] = {}
        # Horizon's `history_accounts`: every account any history row mentions.
        self.known_accounts: set[str] = set()

    def ledger(self, sequence: int) -> LedgerRecord | None:
        if not self.ledgers:
            return None
        first = self.ledgers[0].sequence
        index = sequence - first
        if 0 <= index < len(self.ledgers):
            return self.ledgers[index]
        return None

    def add_ledger(
        self,
        ledger: LedgerRecord,
        transactions: list[TransactionRecord],
        operations: list[OperationRecord],
        effects: list[EffectRecord],
    ) -> None:
        self.ledgers.append(ledger)
        for tx in transactions:
            self.transactions.append(tx)
            self.transactions_by_hash[tx.hash] = tx
            for account in tx.participants:
                self.account_transactions.setdefault(account, []).append(tx)
                self.known_accounts.add(account)
        for op in operations:
            self.operations.append(op)
            self.operations_by_id[op.id] = op
            if op.is_payment:
                self.payments.append(op)
            for account in op.participants:
                self.account_operations.setdefault(account, []).append(op)
                if op.is_payment:
                    self.account_payments.setdefault(account, []).append(op)
                self.known_accounts.add(account)
        for effect in effects:
            self.effects.append(effect)
            self.effects_by_operation.setdefault(effect.operation_id, []).append(effect)
            self.account_effects.setdefault(effect.account.account_id, []).append(effect)
            self.known_accounts.add(effect.account.account_id)
