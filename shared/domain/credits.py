"""A Credit: one crediting of a receiving account, whatever Horizon operation type produced it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain.assets import Asset
from shared.domain.references import Memo


@dataclass(frozen=True, slots=True)
class Credit:
    operation_id: str  # Horizon operation id (TOID), the receipt's identity together with `part`
    part: int  # 0 for classic operations; index in `asset_balance_changes` for contract transfers
    operation_type: str
    destination: str  # the credited G… account
    amount: int | None  # stroops; None until read from the operation's effects (account_merge)
    asset: Asset
    source: str | None  # who paid (G…, or C… for contract transfers)
    muxed_id: int | None  # `to_muxed_id` / `destination_muxed_id`
    memo: Memo
    transaction_hash: str
    ledger: int | None
    closed_at: datetime
    paging_token: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.operation_id, self.part)
