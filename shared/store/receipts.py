"""SQL for receipts (one per crediting operation) and poison records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.bulk import insert_numbered
from shared.store.schema import poison_records, receipts


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    id: int
    operation_id: str
    part: int
    operation_type: str
    payment_id: str | None
    disposition: str
    reason: str | None
    destination: str
    source: str | None
    amount: int
    asset_code: str
    asset_issuer: str | None
    memo_type: str
    memo: str | None
    muxed_id: str | None
    transaction_hash: str
    ledger: int | None
    closed_at: datetime
    recorded_at: datetime
    assigned_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ReceiptRow:
        return cls(**{name: row[name] for name in cls.__slots__})


async def existing_keys(conn: AsyncConnection, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which (operation id, part) pairs already have a receipt (a replayed record changes nothing)."""
    wanted = set(keys)
    if not wanted:
        return set()
    # By operation id alone (the unique index's first column): a row-value IN may not use the index.
    ids = sorted({operation_id for operation_id, _ in wanted})
    found: set[tuple[str, int]] = set()
    for start in range(0, len(ids), 500):
        query = select(receipts.c.operation_id, receipts.c.part).where(
            receipts.c.operation_id.in_(ids[start : start + 500])
        )
        found |= {(row[0], row[1]) for row in (await conn.execute(query)).all()}
    return found & wanted


async def insert_receipt(conn: AsyncConnection, values: dict[str, Any]) -> ReceiptRow:
    result = await conn.execute(insert(receipts).values(**values).returning(*receipts.c))
    return ReceiptRow.from_row(result.mappings().one())


async def get_receipt(conn: AsyncConnection, receipt_id: int, *, lock: bool = False) -> ReceiptRow | None:
    query = select(receipts).where(receipts.c.id == receipt_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return ReceiptRow.from_row(row) if row is not None else None


async def update_receipt(conn: AsyncConnection, receipt_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(receipts).where(receipts.c.id == receipt_id).values(**values))


# Built once: a statement object caches its compiled form (API reads run this per request).
_FOR_PAYMENT = (
    select(receipts).where(receipts.c.payment_id == bindparam("payment_id")).order_by(receipts.c.id)
)


async def for_payment(conn: AsyncConnection, payment_id: str) -> list[ReceiptRow]:
    rows = (await conn.execute(_FOR_PAYMENT, {"payment_id": payment_id})).mappings().all()
    return [ReceiptRow.from_row(row) for row in rows]


async def for_payments(conn: AsyncConnection, payment_ids: Iterable[str]) -> dict[str, list[ReceiptRow]]:
    ids = list(payment_ids)
    found: dict[str, list[ReceiptRow]] = {payment_id: [] for payment_id in ids}
    if not ids:
        return found
    query = select(receipts).where(receipts.c.payment_id.in_(ids)).order_by(receipts.c.id)
    for row in (await conn.execute(query)).mappings().all():
        found[row["payment_id"]].append(ReceiptRow.from_row(row))
    return found


async def list_unmatched(conn: AsyncConnection, *, after_id: int = 0, limit: int = 100) -> list[ReceiptRow]:
    query = (
        select(receipts)
        .where(receipts.c.disposition == "unmatched", receipts.c.id > after_id)
        .order_by(receipts.c.id)
        .limit(limit)
    )
    return [ReceiptRow.from_row(row) for row in (await conn.execute(query)).mappings().all()]


async def insert_poison(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Keep a record that could not be parsed; a replay of the same record is ignored."""
    exists = await conn.execute(
        select(poison_records.c.id).where(
            poison_records.c.stream == values["stream"],
            poison_records.c.paging_token == values["paging_token"],
        )
    )
    if exists.first() is None:
        # The raw text is whatever arrived, NULs included, which PostgreSQL text cannot hold: escaped
        # as JSON would write them, so that the record is kept rather than its batch retried for ever.
        kept = {k: v.replace("\x00", "\\u0000") if isinstance(v, str) else v for k, v in values.items()}
        await conn.execute(insert(poison_records).values(**kept))


async def list_receipts(conn: AsyncConnection, *, after_id: int = 0, limit: int = 100) -> list[ReceiptRow]:
    query = select(receipts).where(receipts.c.id > after_id).order_by(receipts.c.id).limit(limit)
    return [ReceiptRow.from_row(row) for row in (await conn.execute(query)).mappings().all()]


async def get_by_key(
    conn: AsyncConnection, operation_id: str, part: int, *, lock: bool = False
) -> ReceiptRow | None:
    query = select(receipts).where(receipts.c.operation_id == operation_id, receipts.c.part == part)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return ReceiptRow.from_row(row) if row is not None else None


async def insert_receipts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[ReceiptRow]:
    """Insert many receipts in one statement; the rows (with their ids) in the order given."""
    if not rows:
        return []
    ids = await insert_numbered(conn, receipts, rows)
    # The rows as stored: what was given, the new id, and NULL for any column not given.
    return [
        ReceiptRow.from_row({name: row.get(name) for name in ReceiptRow.__slots__} | {"id": ident})
        for row, ident in zip(rows, ids, strict=True)
    ]


async def update_receipts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Set payment_id, disposition, reason and assigned_at of many receipts (keyed by `r_id`)."""
    if not rows:
        return
    await conn.execute(
        update(receipts)
        .where(receipts.c.id == bindparam("r_id"))
        .values(
            payment_id=bindparam("r_payment_id"),
            disposition=bindparam("r_disposition"),
            reason=bindparam("r_reason"),
            assigned_at=bindparam("r_assigned_at"),
        ),
        rows,
    )


async def poison_tokens(conn: AsyncConnection, stream: str) -> set[str]:
    """Paging tokens of the records kept as poison for one stream."""
    query = select(poison_records.c.paging_token).where(poison_records.c.stream == stream)
    return {row.paging_token for row in await conn.execute(query)}
