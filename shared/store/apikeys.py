"""SQL for API keys (only a SHA-256 digest of each key is stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import api_keys


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: str
    name: str
    key_hash: str
    scopes: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


async def insert_key(
    conn: AsyncConnection, *, key_id: str, name: str, key_hash: str, scopes: str, now: datetime
) -> None:
    await conn.execute(
        insert(api_keys).values(id=key_id, name=name, key_hash=key_hash, scopes=scopes, created_at=now)
    )


async def get_key(conn: AsyncConnection, key_id: str) -> ApiKeyRow | None:
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().first()
    return ApiKeyRow(**row) if row is not None else None


async def list_keys(conn: AsyncConnection) -> list[ApiKeyRow]:
    rows = (await conn.execute(select(api_keys).order_by(api_keys.c.created_at))).mappings().all()
    return [ApiKeyRow(**row) for row in rows]


async def revoke_key(conn: AsyncConnection, key_id: str, now: datetime) -> bool:
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)
