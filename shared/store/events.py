"""SQL for the event log (the pull feed and the source of outbound webhooks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.bulk import insert_numbered
from shared.store.schema import events


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    type: str
    payment_id: str | None
    created_at: datetime
    data: str  # JSON text exactly as stored


async def list_events(
    conn: AsyncConnection, *, after_id: int = 0, limit: int = 100, types: Sequence[str] = ()
) -> list[EventRow]:
    query = select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
    if types:
        query = query.where(events.c.type.in_(list(types)))
    return [EventRow(**row) for row in (await conn.execute(query)).mappings().all()]


async def for_payment(conn: AsyncConnection, payment_id: str) -> list[EventRow]:
    query = select(events).where(events.c.payment_id == payment_id).order_by(events.c.id)
    return [EventRow(**row) for row in (await conn.execute(query)).mappings().all()]


async def max_event_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.coalesce(func.max(events.c.id), 0)))).scalar_one())


# PostgreSQL: held from drawing event ids until the transaction ends, so that event ids become visible
# in commit order. Without it a transaction could draw id 7 and commit while another that drew id 6
# is still open, and a reader of `GET /events?after=` would move past 6 and never see it.
ADVISORY_LOCK_EVENT_IDS = 0x70617765  # "pawe"


async def insert_events(conn: AsyncConnection, rows: list[dict[str, object]]) -> list[int]:
    """Insert many events in one statement; their ids come back in the order given (monotonic).

    Call it as the transaction's last wait for a lock (after its row locks and updates): on PostgreSQL
    it serialises event writers until they commit, so nothing taken later may wait for another writer.
    On SQLite the write transaction (BEGIN IMMEDIATE) already serialises them.
    """
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_EVENT_IDS})
    return await insert_numbered(conn, events, rows)
