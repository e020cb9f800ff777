"""SQL for leadership leases with fencing tokens.

One row per lease (`watcher`). A process becomes leader by taking an expired (or absent) lease,
which bumps the token; it keeps the lease by renewing it before it expires; every write transaction
of the leader first re-reads the row (`FOR SHARE` on PostgreSQL, which a takeover's UPDATE waits
for) and checks the token, so a deposed leader cannot write even if it does not know yet.
Lease times are on the database server's clock on PostgreSQL (hosts' clocks may disagree); on
SQLite — one host by definition — on this host's clock.
"""

from __future__ import annotations

import time

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import leases


class LeaseLost(Exception):
    """This process no longer holds the lease: it must stop writing at once."""


async def now_micros(conn: AsyncConnection) -> int:
    if conn.dialect.name == "postgresql":
        value = (
            await conn.execute(text("SELECT (extract(epoch from clock_timestamp()) * 1000000)::bigint"))
        ).scalar_one()
        return int(value)
    return int(time.time() * 1_000_000)


async def try_acquire(conn: AsyncConnection, name: str, holder: str, ttl_micros: int) -> int | None:
    """Take the lease if it is free or expired; returns the new fencing token, else None."""
    now = await now_micros(conn)
    current = (
        await conn.execute(
            select(leases.c.holder, leases.c.token, leases.c.lease_until)
            .where(leases.c.name == name)
            .with_for_update()
        )
    ).first()
    if current is None:
        try:
            async with conn.begin_nested():
                await conn.execute(
                    insert(leases).values(
                        name=name, holder=holder, token=1, lease_until=now + ttl_micros, acquired_at=now
                    )
                )
        except IntegrityError:
            return None  # another process inserted it first
        return 1
    if current.lease_until > now and current.holder != holder:
        return None
    token = int(current.token) + 1
    await conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.token == current.token)
        .values(holder=holder, token=token, lease_until=now + ttl_micros, acquired_at=now)
    )
    return token


async def renew(conn: AsyncConnection, name: str, token: int, ttl_micros: int) -> bool:
    """Extend the lease if this token still holds it (and it has not expired meanwhile)."""
    now = await now_micros(conn)
    result = await conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.token == token, leases.c.lease_until > now)
        .values(lease_until=now + ttl_micros)
    )
    return bool(result.rowcount)


async def check(conn: AsyncConnection, name: str, token: int) -> None:
    """Fence a write transaction: raise LeaseLost unless `token` holds an unexpired lease."""
    row = (
        await conn.execute(
            select(leases.c.token, leases.c.lease_until)
            .where(leases.c.name == name)
            .with_for_update(read=True)
        )
    ).first()
    if row is None or int(row.token) != token or int(row.lease_until) <= await now_micros(conn):
        raise LeaseLost(f"lease {name!r} is no longer held by token {token}")


async def release(conn: AsyncConnection, name: str, token: int) -> None:
    """Give the lease up at once (a clean stop): a standby can take over without waiting."""
    await conn.execute(
        update(leases).where(leases.c.name == name, leases.c.token == token).values(lease_until=0)
    )


async def holder_of(conn: AsyncConnection, name: str) -> tuple[str, int, int] | None:
    row = (
        await conn.execute(
            select(leases.c.holder, leases.c.token, leases.c.lease_until).where(leases.c.name == name)
        )
    ).first()
    return (str(row.holder), int(row.token), int(row.lease_until)) if row is not None else None
