"""SQL for inbound webhook message ids (replay protection)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import inbound_webhooks


async def seen(conn: AsyncConnection, message_id: str) -> bool:
    query = select(inbound_webhooks.c.message_id).where(inbound_webhooks.c.message_id == message_id)
    return (await conn.execute(query)).first() is not None


async def remember(conn: AsyncConnection, message_id: str, now: datetime) -> None:
    await conn.execute(insert(inbound_webhooks).values(message_id=message_id, received_at=now))


async def forget_before(conn: AsyncConnection, before: datetime) -> None:
    await conn.execute(delete(inbound_webhooks).where(inbound_webhooks.c.received_at < before))
