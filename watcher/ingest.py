"""The ingestor: stream records in, one store transaction per batch out.

For each batch it parses the records, keeps the credits to accounts the stream watches, and applies
them together with the new cursor of each stream in ONE transaction: after a crash the stored cursor
points exactly after the last record whose effects were committed. A record that cannot be parsed is
kept as a poison record (for review) and the stream goes on; a store failure retries the same batch.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.apply import Applied, ApplyContext, apply_credits
from shared.domain.credits import Credit
from shared.stellar.fetch import resolve_amount
from shared.stellar.horizon import HorizonClient, HorizonError, NotFound
from shared.stellar.records import RecordError, ledger_of_token, parse_streamed
from shared.store import receipts as receipt_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from watcher.backoff import Backoff
from watcher.streams import StreamRecord

log = structlog.get_logger("paywatch.watcher.ingest")

# What a malformed record can raise while parsed: JSON nested deeper than the interpreter's recursion
# limit raises RecursionError, which must not stop the ingestor (it would stop on the same record
# again after every restart).
MALFORMED = (ValueError, RecordError, RecursionError)

STOP = StreamRecord("", "", "")  # sentinel: finish the current batch, then return
GATHER_SECONDS = 0.005  # a batch keeps growing this long at most while records are still arriving
GATHER_IDLE_TURNS = 3  # ...and stops after this many loop turns without a new record


@dataclass(frozen=True, slots=True)
class Barrier:
    """Resolved once every record queued before it is committed (stream switches, backfills)."""

    done: asyncio.Future[None]


QueueItem = StreamRecord | Barrier


@dataclass(frozen=True, slots=True)
class Prepared:
    record: StreamRecord
    credits: list[Credit]
    ledger: int
    closed_at: datetime | None
    error: str | None = None


class Ingestor:
    def __init__(
        self,
        db: Database,
        ctx: ApplyContext,
        horizon: HorizonClient,
        queue: asyncio.Queue[QueueItem],
        accounts_for: Callable[[str], Container[str]],
        *,
        batch_size: int = 1000,
        fence: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.ctx = ctx
        self.horizon = horizon
        self.queue = queue
        self.accounts_for = accounts_for
        self.batch_size = batch_size
        self.fence = fence  # the leader's check inside every write transaction (LeaseLost if deposed)
        self.applied_batches = 0
        self.applying = 0  # records taken off the queue whose batch is not committed yet
        self.refetched = 0  # records malformed on the stream, read again from Horizon
        self.last_commit: datetime | None = None
        # Per stream: records committed, and the ledger close time of the newest one (lag, health).
        self.committed: Counter[str] = Counter()
        self.committed_closed_at: dict[str, datetime] = {}
        # Called once a batch is committed, with its records and how many events it emitted
        # (the webhook dispatcher's wake-up; benchmarks).
        self.after_commit: list[Callable[[Sequence[StreamRecord], int], None]] = []

    async def run(self) -> None:
        while True:
            batch = await self._collect()
            records = [item for item in batch if isinstance(item, StreamRecord) and item is not STOP]
            if records:
                self.applying = len(records)
                try:
                    await self.apply_batch(records)
                finally:
                    self.applying = 0
            for item in batch:
                if isinstance(item, Barrier) and not item.done.done():
                    item.done.set_result(None)
            if STOP in batch:
                return

    @property
    def uncommitted(self) -> int:
        """Records received and not committed yet: queued, or in the batch being applied (which
        may be what is stuck, with the queue empty)."""
        return self.queue.qsize() + self.applying

    async def _collect(self) -> list[QueueItem]:
        """The next batch: what is queued, plus what is still arriving in the chunks being read.

        A reader hands a page of records over chunk by chunk, and the first record wakes this task:
        taking only what is queued at that instant would commit a page in many small transactions.
        So the batch grows while records keep arriving turn by turn, for at most GATHER_SECONDS; a
        single record with nothing behind it (the steady state) waits only a couple of loop turns.
        """
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_SECONDS
        idle_turns = 0
        while len(batch) < self.batch_size:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                idle_turns = 0
                continue
            if isinstance(batch[-1], Barrier) or batch[-1] is STOP or idle_turns >= GATHER_IDLE_TURNS:
                break
            if loop.time() >= deadline:
                break
            idle_turns += 1
            await asyncio.sleep(0)
        return batch

    async def drained(self) -> None:
        """Return once everything queued so far has been committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.queue.put(Barrier(done))
        await done

    async def prepare(self, item: StreamRecord) -> Prepared:
        """Parse one record; a record malformed on the stream is read again from Horizon by id.

        A stream can garble a record in transit while Horizon's stored copy is fine, so a real
        payment must not be parked as poison for it. Only when Horizon's own copy is malformed too
        (or Horizon has no such operation) is the record kept as poison and the stream goes on.
        """
        try:
            return await self._prepare(item, item.data)
        except MALFORMED as exc:
            first_error = str(exc)[:500] or type(exc).__name__
        log.warning(
            "malformed record on the stream; reading it again",
            stream=item.stream,
            paging_token=item.paging_token,
            error=first_error,
        )
        self.refetched += 1
        try:
            again = await self._refetch(item.paging_token)
        except NotFound:
            return Prepared(
                item,
                [],
                ledger_of_token(item.paging_token),
                None,
                error=f"{first_error} (and Horizon has no such operation)",
            )
        try:
            return await self._prepare(item, again)
        except MALFORMED as exc:
            return Prepared(
                item,
                [],
                ledger_of_token(item.paging_token),
                None,
                error=f"{first_error}; Horizon's copy: {str(exc)[:300]}",
            )

    async def _refetch(self, paging_token: str) -> str:
        backoff = Backoff(base=0.5, cap=30)
        while True:
            try:
                record = await self.horizon.get(f"/operations/{paging_token}", {"join": "transactions"})
                return json.dumps(record)
            except NotFound:
                raise
            except (HorizonError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning(
                    "cannot read the record again yet", paging_token=paging_token, error=str(exc)[:200]
                )
                await asyncio.sleep(backoff.next_delay())

    async def _prepare(self, item: StreamRecord, text: str) -> Prepared:
        parsed = parse_streamed(text, item.paging_token)
        watched = self.accounts_for(item.stream)
        credits = [c for c in parsed.credits if c.destination in watched]
        if credits and parsed.transaction is None:
            raise RecordError("crediting record without its joined transaction (memo unknown)")
        resolved = [await self._with_amount(credit) for credit in credits]
        return Prepared(item, resolved, ledger_of_token(item.paging_token), parsed.closed_at)

    async def _with_amount(self, credit: Credit) -> Credit:
        """account_merge records carry no amount: read it from the operation's effects (retrying)."""
        if credit.amount is not None:
            return credit
        backoff = Backoff(base=0.5, cap=30)
        while True:
            try:
                return await resolve_amount(self.horizon, credit)
            except (HorizonError, RecordError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("cannot read merge amount yet", operation_id=credit.operation_id, error=str(exc))
                await asyncio.sleep(backoff.next_delay())

    async def apply_batch(self, items: list[StreamRecord]) -> None:
        prepared = [await self.prepare(item) for item in items]
        backoff = Backoff(base=0.2, cap=10)
        while True:
            try:
                await self._commit(prepared)
                break
            except (SQLAlchemyError, OSError) as exc:
                log.error("store write failed; retrying the same batch", error=str(exc)[:300])
                await asyncio.sleep(backoff.next_delay())
        self.applied_batches += 1

    async def _commit(self, prepared: list[Prepared]) -> None:
        now = self.ctx.now()
        last: dict[str, Prepared] = {}
        applied: list[tuple[Credit, Applied]] = []
        async with self.db.write() as conn:
            if self.fence is not None:
                await self.fence(conn)
            for item in prepared:
                if item.error is not None:
                    await receipt_store.insert_poison(
                        conn,
                        {
                            "stream": item.record.stream,
                            "paging_token": item.record.paging_token,
                            "error": item.error,
                            "raw": item.record.data[:65536],
                            "recorded_at": now,
                        },
                    )
                last[item.record.stream] = item
            # Every credit of the batch, in stream order, in one change set (a few statements).
            credits = [credit for item in prepared for credit in item.credits]
            results = await apply_credits(conn, credits, self.ctx)
            applied = [(credit, result) for credit, result in zip(credits, results, strict=True) if result]
            await stream_store.advance_cursors(
                conn,
                [
                    {
                        "key": stream,
                        "cursor": item.record.paging_token,
                        "last_ledger": item.ledger,
                        "last_closed_at": item.closed_at,
                    }
                    for stream, item in last.items()
                ],
                now,
            )
        # Logged after the commit: a crash before it leaves no trace of work that did not happen.
        self.last_commit = now
        records = [item.record for item in prepared]
        events = sum(len(result.events) for _, result in applied)
        for hook in self.after_commit:
            hook(records, events)
        for item in prepared:
            self.committed[item.record.stream] += 1
        for stream, item in last.items():
            if item.closed_at is not None:
                self.committed_closed_at[stream] = item.closed_at
        for item in prepared:
            if item.error is not None:
                log.error(
                    "malformed Horizon record kept as poison",
                    stream=item.record.stream,
                    paging_token=item.record.paging_token,
                    error=item.error,
                )
        for credit, result in applied:
            log.info(
                "receipt recorded",
                operation_id=credit.operation_id,
                tx_hash=credit.transaction_hash,
                account=credit.destination,
                payment_id=result.payment_id,
                disposition=result.receipt.disposition,
                events=list(result.events),
            )
            if "payment.confirmed" in result.events:
                log.info(
                    "payment confirmed",
                    payment_id=result.payment_id,
                    tx_hash=credit.transaction_hash,
                    account=credit.destination,
                    ledger=credit.ledger,
                )
