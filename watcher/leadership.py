"""Leadership among watcher processes sharing one database (SPEC §10).

Any number of `paywatch watch` processes may run; exactly one — the holder of the `watcher` lease —
reads Horizon and applies changes. The others stand by and try to take the lease; when the leader
dies (its lease is not renewed) one of them takes over within `leader_lease_seconds`.

Safety does not rest on timing alone: the lease carries a fencing token and every leader write
transaction checks it (`shared.store.leases.check`), so a deposed leader — paused, partitioned, or
slow to notice — cannot commit anything. The leader also deposes itself when it could not renew for
most of the lease time, so that at most one process believes it leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store import leases as lease_store
from shared.store.engine import Database
from shared.store.leases import LeaseLost
from shared.store.status import LEASE_NAME

log = structlog.get_logger("paywatch.watcher.leadership")


class Leadership:
    def __init__(self, db: Database, instance: str, *, lease_seconds: float) -> None:
        self.db = db
        self.instance = instance
        self.lease_seconds = lease_seconds
        self.ttl_micros = int(lease_seconds * 1_000_000)
        self.token: int | None = None
        self.lost = asyncio.Event()
        self.acquired_at: float | None = None  # time.monotonic() when this process became leader
        self._renewed_at = 0.0
        self._announced_standby = False

    @property
    def leading(self) -> bool:
        return self.token is not None and not self.lost.is_set()

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this process holds the lease (True) or a stop is requested (False)."""
        while not stop.is_set():
            token: int | None = None
            try:
                async with self.db.write() as conn:
                    token = await lease_store.try_acquire(conn, LEASE_NAME, self.instance, self.ttl_micros)
                    holder = None if token else await lease_store.holder_of(conn, LEASE_NAME)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("cannot reach the store to take the lease", error=str(exc)[:200])
                holder = None
            if token is not None:
                self.token = token
                self.lost.clear()
                self._renewed_at = self.acquired_at = time.monotonic()
                self._announced_standby = False
                log.info("leading: this watcher reads Horizon and applies changes", token=token)
                return True
            if holder is not None and not self._announced_standby:
                self._announced_standby = True
                log.warning(
                    "standing by: another watcher leads on this database; taking over if it stops",
                    leader=holder[0],
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(self.lease_seconds / 4, 1.0))
        return False

    async def keep(self) -> None:
        """Renew the lease; set `lost` (and return) as soon as it is not certainly held any more."""
        while True:
            await asyncio.sleep(self.lease_seconds / 4)
            token = self.token
            if token is None:
                return
            try:
                async with self.db.write() as conn:
                    renewed = await lease_store.renew(conn, LEASE_NAME, token, self.ttl_micros)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("cannot renew the leader lease", error=str(exc)[:200])
                renewed = None
            if renewed:
                self._renewed_at = time.monotonic()
            elif renewed is False:
                self._depose("another watcher took the lease")
                return
            if time.monotonic() - self._renewed_at > self.lease_seconds * 0.75:
                self._depose("could not renew the lease in time")
                return

    def _depose(self, reason: str) -> None:
        log.error("leadership lost: stopping all writes at once", reason=reason, token=self.token)
        self.lost.set()

    async def fence(self, conn: AsyncConnection) -> None:
        """Inside a write transaction: raise LeaseLost unless this process still leads."""
        if self.token is None or self.lost.is_set():
            raise LeaseLost("this watcher does not lead")
        await lease_store.check(conn, LEASE_NAME, self.token)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A fenced write transaction of the leader."""
        async with self.db.write() as conn:
            await self.fence(conn)
            yield conn

    async def release(self) -> None:
        """Give the lease up on a clean stop, so that a standby takes over without waiting."""
        token, self.token = self.token, None
        if token is None:
            return
        with contextlib.suppress(SQLAlchemyError, OSError):
            async with self.db.write() as conn:
                await lease_store.release(conn, LEASE_NAME, token)
