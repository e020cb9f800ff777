"""SQL for the webhook outbox backlog shown by `paywatch status`, the monitor endpoint and STATUS=."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store import webhooks


async def outbox_backlog(conn: AsyncConnection) -> int:
    """Webhook deliveries waiting to be sent (pending or in flight), across endpoints."""
    return sum((await webhooks.backlog(conn)).values())
