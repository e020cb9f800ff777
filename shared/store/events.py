"""SQL for the event log (the pull feed and the source of outbound webhooks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
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


async def insert_event(
    conn: AsyncConnection, *, type: str, payment_id: str | None, data: str, created_at: datetime
) -> int:
    result = await conn.execute(
        insert(events)
        .values(type=type, payment_id=payment_id, data=data, created_at=created_at)
        .returning(events.c.id)
    )
    return int(result.scalar_one())


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


async def insert_events(conn: AsyncConnection, rows: list[dict[str, object]]) -> list[int]:
    """Insert many events in one statement; their ids come back in the order given (monotonic)."""
    if not rows:
        return []
    return await insert_numbered(conn, events, rows)
