"""PostgreSQL LISTEN/NOTIFY: a wake-up, never a source of truth (polling stays the fallback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.engine import sync_url

log = structlog.get_logger("paywatch.store.notifications")

PAYMENTS_CHANNEL = "paywatch_payments"


async def notify_payments(conn: AsyncConnection) -> None:
    """Inside the transaction that created a payment: delivered to listeners when it commits."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": PAYMENTS_CHANNEL})


def _dsn(url: str) -> str:
    return sync_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(url: str, channel: str, listening: asyncio.Event | None = None) -> AsyncIterator[None]:
    """Yield once per notification on `channel`, reconnecting with a pause when the link drops.

    `listening` is set while LISTEN is in effect (a notification sent from then on is seen).
    """
    try:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(_dsn(url), autocommit=True) as conn:
                    await conn.execute(f"LISTEN {channel}")  # a constant identifier, not user input
                    if listening is not None:
                        listening.set()
                    yield None  # (re)connected: whatever was missed meanwhile is found by the next poll
                    async for _ in conn.notifies():
                        yield None
            except (psycopg.Error, OSError) as exc:
                if listening is not None:
                    listening.clear()
                log.warning("LISTEN connection lost; polling meanwhile", error=str(exc)[:200])
                await asyncio.sleep(1.0)
    finally:
        if listening is not None:
            listening.clear()
