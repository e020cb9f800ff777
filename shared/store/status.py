"""SQL for the watchers' status rows (one per process: heartbeat, role, mode, network position)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import leases, watcher_status

LEASE_NAME = "watcher"


@dataclass(frozen=True, slots=True)
class WatcherStatusRow:
    instance: str
    role: str
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


async def all_statuses(conn: AsyncConnection) -> list[WatcherStatusRow]:
    """Every watcher process that reported, the leader first, then by freshest heartbeat."""
    rows = [WatcherStatusRow(**row) for row in (await conn.execute(select(watcher_status))).mappings().all()]
    holder = (await conn.execute(select(leases.c.holder).where(leases.c.name == LEASE_NAME))).scalar()
    return sorted(
        rows,
        key=lambda r: (r.instance != holder, -(r.heartbeat_at.timestamp() if r.heartbeat_at else 0.0)),
    )


async def get_status(conn: AsyncConnection) -> WatcherStatusRow | None:
    """The watcher that matters: the current lease holder's row, else the freshest one."""
    rows = await all_statuses(conn)
    return rows[0] if rows else None


async def put_status(conn: AsyncConnection, instance: str, values: dict[str, Any]) -> None:
    result = await conn.execute(
        update(watcher_status).where(watcher_status.c.instance == instance).values(**values)
    )
    if not result.rowcount:
        await conn.execute(insert(watcher_status).values(instance=instance, **values))


async def forget_stale(conn: AsyncConnection, before: datetime) -> None:
    """Drop the rows of processes that stopped reporting long ago (keeps `paywatch status` short)."""
    await conn.execute(delete(watcher_status).where(watcher_status.c.heartbeat_at < before))
