"""SQL for the watcher's status row (heartbeat, mode, network position)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import watcher_status

STATUS_ROW_ID = 1


@dataclass(frozen=True, slots=True)
class WatcherStatusRow:
    id: int
    state: str
    mode: str
    pid: int | None
    hostname: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    network_ledger: int | None
    network_closed_at: datetime | None
    last_error: str | None
    details: str | None


async def get_status(conn: AsyncConnection) -> WatcherStatusRow | None:
    query = select(watcher_status).where(watcher_status.c.id == STATUS_ROW_ID)
    row = (await conn.execute(query)).mappings().first()
    return WatcherStatusRow(**row) if row is not None else None


async def put_status(conn: AsyncConnection, values: dict[str, Any]) -> None:
    result = await conn.execute(
        update(watcher_status).where(watcher_status.c.id == STATUS_ROW_ID).values(**values)
    )
    if not result.rowcount:
        await conn.execute(insert(watcher_status).values(id=STATUS_ROW_ID, **values))
