"""SQL for the webhook outbox backlog shown by `paywatch status`, the monitor endpoint and STATUS=.

PLACEHOLDER until the outbox table lands (webhooks branch): returns None, shown as "unknown".
TODO(webhooks): count the deliveries not yet done (pending or retrying) in the outbox table.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection


async def outbox_backlog(conn: AsyncConnection) -> int | None:
    """Webhook deliveries waiting to be sent; None while this build has no outbox."""
    del conn
    return None
