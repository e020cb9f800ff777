"""Total Order IDs: Horizon's paging tokens (`ledger<<32 | tx<<12 | op`, indexes 1-based)."""

from __future__ import annotations

LEDGER_SHIFT = 32
TX_SHIFT = 12
TX_MASK = (1 << 20) - 1
OP_MASK = (1 << 12) - 1


def toid(ledger: int, tx_index: int = 0, op_index: int = 0) -> int:
    return (ledger << LEDGER_SHIFT) | (tx_index << TX_SHIFT) | op_index


def after_ledger(ledger: int) -> int:
    """What `cursor=now` resolves to: the greatest id of `ledger` (toid.AfterLedger)."""
    return toid(ledger + 1) - 1


def ledger_of(value: int) -> int:
    return value >> LEDGER_SHIFT
