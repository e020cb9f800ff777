"""The ledger: accounts plus history, created at genesis and extended one closed ledger at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .history import EffectRecord, History, LedgerRecord, OperationRecord, TransactionRecord
from .ledgerheader import MAX_TX_SET_SIZE, PROTOCOL_VERSION, build_header
from .state import BASE_FEE, BASE_RESERVE, TOTAL_COINS, AccountEntry
from .txapply import AppliedTransaction, Rejection

FRIENDBOT_RESERVE = 10_000_000_000 * 10_000_000  # what friendbot itself holds at genesis

# Applies one queued transaction: (accounts, ledger sequence, 1-based tx index, close time).
ApplyFn = Callable[[dict[str, AccountEntry], int, int, int], "AppliedTransaction | Rejection"]


class Ledger:
    """Ledger 1 has root (all the coins) and friendbot (pre-funded, no history rows)."""

    def __init__(self, root: str, friendbot: str, genesis_time: int) -> None:
        self.accounts: dict[str, AccountEntry] = {
            root: AccountEntry(root, TOTAL_COINS - FRIENDBOT_RESERVE, 0, 1),
            friendbot: AccountEntry(friendbot, FRIENDBOT_RESERVE, 1 << 32, 1),
        }
        self.fee_pool = 0
        self.history = History()
        self._record([], genesis_time)

    @property
    def latest(self) -> LedgerRecord:
        return self.history.ledgers[-1]

    def close(self, applies: Sequence[ApplyFn], close_time: int) -> list[AppliedTransaction | Rejection]:
        """Apply the transactions in order and record the next ledger; one outcome per transaction."""
        sequence = self.latest.sequence + 1
        outcomes: list[AppliedTransaction | Rejection] = []
        included: list[AppliedTransaction] = []
        for apply in applies:
            applied = apply(self.accounts, sequence, len(included) + 1, close_time)
            if isinstance(applied, AppliedTransaction):
                applied.record.op_codes = [r.code for r in applied.op_results]
                included.append(applied)
                self.fee_pool += applied.fee
            outcomes.append(applied)
        self._record(included, close_time)
        return outcomes

    def _record(self, included: list[AppliedTransaction], close_time: int) -> None:
        previous = self.history.ledgers[-1] if self.history.ledgers else None
        sequence = 1 if previous is None else previous.sequence + 1
        transactions: list[TransactionRecord] = [a.record for a in included]
        operations: list[OperationRecord] = [op for a in included for op in a.operations]
        effects: list[EffectRecord] = [e for a in included for e in a.effects]
        successful = [tx for tx in transactions if tx.successful]
        previous_hash = bytes(32) if previous is None else bytes.fromhex(previous.hash)
        header_xdr, ledger_hash = build_header(
            sequence,
            previous_hash,
            close_time,
            [bytes.fromhex(tx.hash) for tx in transactions],
            [tx.result_xdr for tx in transactions],
            TOTAL_COINS,
            self.fee_pool,
            BASE_FEE,
            BASE_RESERVE,
        )
        record = LedgerRecord(
            sequence=sequence,
            hash=ledger_hash.hex(),
            prev_hash="" if previous is None else previous.hash,
            closed_at=close_time,
            successful_transaction_count=len(successful),
            failed_transaction_count=len(transactions) - len(successful),
            operation_count=sum(tx.operation_count for tx in successful),
            tx_set_operation_count=sum(tx.operation_count for tx in transactions),
            total_coins=TOTAL_COINS,
            fee_pool=self.fee_pool,
            base_fee=BASE_FEE,
            base_reserve=BASE_RESERVE,
            max_tx_set_size=MAX_TX_SET_SIZE,
            protocol_version=PROTOCOL_VERSION,
            header_xdr=header_xdr,
        )
        self.history.add_ledger(record, transactions, operations, effects)
