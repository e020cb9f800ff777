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

    Horizon reports close times in whole seconds, so a ledger showing second S closed somewhere in
    [S, S+1): only S < ⌊moment⌋ proves it closed before `moment`. The search interpolates on close
    times (ledgers close at a nearly steady pace), alternating with bisection so that it always
    progresses: a handful of requests, run once per new stream.
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
    if latest_closed is None or latest_closed < moment:
        return str(toid(latest))
    elder_closed = await _closed_at(horizon, elder)
    if elder_closed is None or elder_closed >= moment:
        return "0"  # every retained ledger closed at or after `moment`
    # Invariant: ledger `low` closed before `moment`, ledger `high` at or after it.
    low, low_time, high, high_time = elder, elder_closed, latest, latest_closed
    interpolate = True
    while high - low > 1:
        if interpolate and high_time > low_time:
            share = (moment - low_time) / (high_time - low_time)
            guess = low + int(share * (high - low))
        else:
            guess = (low + high) // 2
        guess = min(max(guess, low + 1), high - 1)
        interpolate = not interpolate
        closed = await _closed_at(horizon, guess)
        if closed is None:  # outside retained history: treat as "before"
            low = guess
        elif closed < moment:
            low, low_time = guess, closed
        else:
            high, high_time = guess, closed
    return str(toid(low))
