"""SQL for Idempotency-Key records (first response stored, replayed for 24 h)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import idempotency_keys


@dataclass(frozen=True, slots=True)
class IdempotencyRow:
    api_key_id: str
    key: str
    fingerprint: str
    state: str
    status: int | None
    content_type: str | None
    body: str | None
    created_at: datetime
    expires_at: datetime


async def get_record(conn: AsyncConnection, api_key_id: str, key: str) -> IdempotencyRow | None:
    query = select(idempotency_keys).where(
        idempotency_keys.c.api_key_id == api_key_id, idempotency_keys.c.key == key
    )
    row = (await conn.execute(query)).mappings().first()
    return IdempotencyRow(**row) if row is not None else None


async def start(
    conn: AsyncConnection, *, api_key_id: str, key: str, fingerprint: str, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        insert(idempotency_keys).values(
            api_key_id=api_key_id,
            key=key,
            fingerprint=fingerprint,
            state="in_flight",
            created_at=now,
            expires_at=expires_at,
        )
    )


async def finish(
    conn: AsyncConnection, *, api_key_id: str, key: str, status: int, content_type: str, body: str
) -> None:
    await conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.api_key_id == api_key_id, idempotency_keys.c.key == key)
        .values(state="done", status=status, content_type=content_type, body=body)
    )


async def forget(conn: AsyncConnection, api_key_id: str, key: str) -> None:
    await conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.api_key_id == api_key_id, idempotency_keys.c.key == key
        )
    )


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at < now))
    return int(result.rowcount or 0)
