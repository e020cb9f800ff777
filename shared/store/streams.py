"""SQL for stream cursors and stream status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import streams


@dataclass(frozen=True, slots=True)
class StreamRow:
    key: str
    cursor: str
    last_ledger: int | None
    last_closed_at: datetime | None
    processed_through: datetime | None
    follows: str | None
    created_at: datetime
    updated_at: datetime
    connected: bool
    last_event_at: datetime | None
    last_error: str | None
    status_updated_at: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> StreamRow:
        return cls(**{name: row[name] for name in cls.__slots__})


async def get_stream(conn: AsyncConnection, key: str) -> StreamRow | None:
    row = (await conn.execute(select(streams).where(streams.c.key == key))).mappings().first()
    return StreamRow.from_row(row) if row is not None else None


async def all_streams(conn: AsyncConnection) -> list[StreamRow]:
    rows = (await conn.execute(select(streams).order_by(streams.c.key))).mappings().all()
    return [StreamRow.from_row(row) for row in rows]


async def create_stream(conn: AsyncConnection, key: str, cursor: str, now: datetime) -> StreamRow:
    """Create the stream row once; an existing row (another process won the race) is kept."""
    existing = await get_stream(conn, key)
    if existing is not None:
        return existing
    await conn.execute(insert(streams).values(key=key, cursor=cursor, created_at=now, updated_at=now))
    created = await get_stream(conn, key)
    assert created is not None
    return created


async def advance_cursor(
    conn: AsyncConnection,
    key: str,
    *,
    cursor: str,
    last_ledger: int | None,
    last_closed_at: datetime | None,
    now: datetime,
) -> None:
    """Move the cursor forward (never backwards) in the same transaction as the records' effects."""
    values: dict[str, Any] = {"cursor": cursor, "updated_at": now}
    if last_ledger is not None:
        values["last_ledger"] = last_ledger
    if last_closed_at is not None:
        values["last_closed_at"] = last_closed_at
    await conn.execute(update(streams).where(streams.c.key == key).values(**values))


async def advance_cursors(conn: AsyncConnection, positions: list[dict[str, Any]], now: datetime) -> None:
    """`advance_cursor` for many streams in one statement: dicts of `key`, `cursor`, `last_ledger`
    and `last_closed_at` (None keeps the stored value)."""
    if not positions:
        return
    await conn.execute(
        update(streams)
        .where(streams.c.key == bindparam("s_key"))
        .values(
            cursor=bindparam("s_cursor"),
            last_ledger=func.coalesce(
                bindparam("s_last_ledger", type_=streams.c.last_ledger.type), streams.c.last_ledger
            ),
            last_closed_at=func.coalesce(
                bindparam("s_last_closed_at", type_=streams.c.last_closed_at.type), streams.c.last_closed_at
            ),
            updated_at=now,
        ),
        [
            {
                "s_key": position["key"],
                "s_cursor": position["cursor"],
                "s_last_ledger": position["last_ledger"],
                "s_last_closed_at": position["last_closed_at"],
            }
            for position in positions
        ],
    )


async def set_processed_through(conn: AsyncConnection, key: str, through: datetime, now: datetime) -> None:
    await conn.execute(
        update(streams)
        .where(streams.c.key == key)
        .where((streams.c.processed_through.is_(None)) | (streams.c.processed_through < through))
        .values(processed_through=through, updated_at=now)
    )


async def update_status(conn: AsyncConnection, key: str, values: dict[str, Any]) -> None:
    await conn.execute(update(streams).where(streams.c.key == key).values(**values))


async def set_follows(
    conn: AsyncConnection, key: str, follows: str | None, cursor: str | None, now: datetime
) -> None:
    """Mark an account row as covered by another stream (network mode), or as on its own again."""
    values: dict[str, Any] = {"follows": follows, "updated_at": now}
    if cursor is not None:
        values["cursor"] = cursor
    await conn.execute(update(streams).where(streams.c.key == key).values(**values))


async def rows_by_key(conn: AsyncConnection, keys: list[str]) -> dict[str, StreamRow]:
    if not keys:
        return {}
    rows = (await conn.execute(select(streams).where(streams.c.key.in_(keys)))).mappings().all()
    return {row["key"]: StreamRow.from_row(row) for row in rows}
