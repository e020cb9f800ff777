"""Ledger entries (accounts with their trustlines and data) and copy-on-write views for applying."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .assets import AssetKey

BASE_FEE = 100  # stroops per operation
BASE_RESERVE = 5_000_000  # 0.5 XLM
TOTAL_COINS = 100_000_000_000 * 10_000_000  # a standalone network's root holds all lumens
INT64_MAX = 2**63 - 1


@dataclass
class TrustLine:
    asset: AssetKey
    balance: int
    limit: int
    last_modified_ledger: int


@dataclass
class AccountEntry:
    account_id: str
    balance: int
    seq_num: int
    last_modified_ledger: int
    num_subentries: int = 0
    trustlines: dict[AssetKey, TrustLine] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    # Set once the account's sequence is consumed by a transaction (AccountEntryExtensionV3).
    seq_ledger: int | None = None
    seq_time: int | None = None

    def min_balance(self, extra_subentries: int = 0) -> int:
        return (2 + self.num_subentries + extra_subentries) * BASE_RESERVE

    def available_native(self) -> int:
        """What can be sent without going under the minimum balance (no liabilities here)."""
        return self.balance - self.min_balance()


class Overlay:
    """A copy-on-write view over the accounts: changes are kept apart until `commit()`.

    Applying a transaction's operations goes through one; if an operation fails the whole view is
    dropped, which is Stellar's all-or-nothing rule for a transaction's operations.
    """

    def __init__(self, base: dict[str, AccountEntry]) -> None:
        self._base = base
        self._changes: dict[str, AccountEntry | None] = {}

    def get(self, account_id: str) -> AccountEntry | None:
        if account_id in self._changes:
            return self._changes[account_id]
        entry = self._base.get(account_id)
        if entry is None:
            return None
        working = copy.deepcopy(entry)
        self._changes[account_id] = working
        return working

    def exists(self, account_id: str) -> bool:
        if account_id in self._changes:
            return self._changes[account_id] is not None
        return account_id in self._base

    def put(self, entry: AccountEntry) -> None:
        self._changes[entry.account_id] = entry

    def remove(self, account_id: str) -> None:
        self._changes[account_id] = None

    def commit(self) -> None:
        for account_id, entry in self._changes.items():
            if entry is None:
                self._base.pop(account_id, None)
            else:
                self._base[account_id] = entry
        self._changes.clear()
