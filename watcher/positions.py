"""Where a new stream starts: a cursor no later than a given network time."""

from __future__ import annotations

from datetime import datetime

from shared.stellar.horizon import HorizonClient, HorizonError, NotFound
from shared.stellar.records import RecordError, parse_time


def toid(ledger: int, transaction_index: int = 0, operation_index: int = 0) -> int:
    """Horizon's total order id: ledger << 32 | transaction index << 12 | operation index."""
    return (ledger << 32) | (transaction_index << 12) | operation_index


async def _closed_at(horizon: HorizonClient, sequence: int) -> datetime | None:
    try:
        ledger = await horizon.get(f"/ledgers/{sequence}")
    except NotFound:
        return None
    return parse_time(ledger.get("closed_at"), "closed_at")


async def cursor_before(horizon: HorizonClient, moment: datetime) -> str:
    """A paging token for the last ledger that closed before `moment` ("0" if none is retained).

    A binary search over ledger close times: about log2(ledgers) requests, run once per new stream.
    Horizon reports close times in whole seconds, so a ledger showing second S closed somewhere in
    [S, S+1): only S < ⌊moment⌋ proves it closed before `moment`.
    """
    moment = moment.replace(microsecond=0)
    root = await horizon.root()
    latest = root.get("history_latest_ledger")
    elder = root.get("history_elder_ledger", 1)
    if not isinstance(latest, int) or not isinstance(elder, int):
        raise HorizonError("Horizon root has no history_latest_ledger")
    latest_closed: datetime | None
    try:
        latest_closed = parse_time(root.get("history_latest_ledger_closed_at"), "closed_at")
    except RecordError:
        latest_closed = await _closed_at(horizon, latest)
    if latest_closed is not None and latest_closed < moment:
        return str(toid(latest))
    low, high, found = elder, latest, None  # invariant: ledgers > high closed at or after `moment`
    while low <= high:
        middle = (low + high) // 2
        closed = await _closed_at(horizon, middle)
        if closed is not None and closed < moment:
            found, low = middle, middle + 1
        else:
            high = middle - 1
    return str(toid(found)) if found is not None else "0"
