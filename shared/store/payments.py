"""SQL for payments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import payments


@dataclass(frozen=True, slots=True)
class PaymentRow:
    pk: int
    id: str
    order_id: str
    buyer_id: str | None
    status: str
    amount: int
    currency: str
    asset_code: str
    asset_issuer: str | None
    destination: str
    reference: int
    memo_type: str
    amount_received: int
    amount_late: int
    amount_refunded: int
    flag_late: bool
    flag_overpaid: bool
    flag_manual: bool
    failure_reason: str | None
    stellar_transaction_id: str | None
    source_account: str | None
    metadata: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    failed_at: datetime | None
    refunded_at: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> PaymentRow:
        return cls(**{name: row[name] for name in cls.__slots__})


async def insert_payment(conn: AsyncConnection, values: dict[str, Any]) -> PaymentRow:
    result = await conn.execute(insert(payments).values(**values).returning(*payments.c))
    return PaymentRow.from_row(result.mappings().one())


_BY_ID = select(payments).where(payments.c.id == bindparam("payment_id"))  # built once (API hot path)
_BY_ID_LOCKED = _BY_ID.with_for_update()


async def get_payment(conn: AsyncConnection, payment_id: str, *, lock: bool = False) -> PaymentRow | None:
    query = _BY_ID_LOCKED if lock else _BY_ID
    row = (await conn.execute(query, {"payment_id": payment_id})).mappings().first()
    return PaymentRow.from_row(row) if row is not None else None


async def pending_for_order(conn: AsyncConnection, order_id: str) -> PaymentRow | None:
    query = select(payments).where(payments.c.order_id == order_id, payments.c.status == "pending")
    row = (await conn.execute(query)).mappings().first()
    return PaymentRow.from_row(row) if row is not None else None


async def latest_for_order(conn: AsyncConnection, order_id: str) -> PaymentRow | None:
    query = (
        select(payments)
        .where(payments.c.order_id == order_id)
        .order_by(payments.c.created_at.desc(), payments.c.pk.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).mappings().first()
    return PaymentRow.from_row(row) if row is not None else None


async def by_references(
    conn: AsyncConnection, destination: str, references: Iterable[int], *, lock: bool = True
) -> dict[int, PaymentRow]:
    """Payments at `destination` carrying any of `references`, locked for update."""
    refs = list(references)
    if not refs:
        return {}
    query = select(payments).where(payments.c.destination == destination, payments.c.reference.in_(refs))
    if lock:
        query = query.with_for_update()
    rows = (await conn.execute(query)).mappings().all()
    return {row["reference"]: PaymentRow.from_row(row) for row in rows}


async def update_payment(conn: AsyncConnection, payment_id: str, values: dict[str, Any]) -> None:
    await conn.execute(update(payments).where(payments.c.id == payment_id).values(**values))


@dataclass(frozen=True, slots=True)
class PaymentSummary:
    """What the watcher needs to know about a payment to schedule streams and expiry."""

    pk: int
    id: str
    destination: str
    status: str
    created_at: datetime
    expires_at: datetime


async def created_since(conn: AsyncConnection, after_pk: int, limit: int = 1000) -> list[PaymentSummary]:
    query = (
        select(
            payments.c.pk,
            payments.c.id,
            payments.c.destination,
            payments.c.status,
            payments.c.created_at,
            payments.c.expires_at,
        )
        .where(payments.c.pk > after_pk)
        .order_by(payments.c.pk)
        .limit(limit)
    )
    return [PaymentSummary(**row) for row in (await conn.execute(query)).mappings().all()]


async def max_pk(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.coalesce(func.max(payments.c.pk), 0)))).scalar_one())


async def pending_destinations(conn: AsyncConnection) -> dict[str, datetime]:
    """Each destination with pending payments, and its oldest pending payment's creation time."""
    query = (
        select(payments.c.destination, func.min(payments.c.created_at))
        .where(payments.c.status == "pending")
        .group_by(payments.c.destination)
    )
    # min() keeps the column's type, so the value comes back as an aware datetime.
    return {row[0]: row[1] for row in (await conn.execute(query)).all()}


async def pending_expired(
    conn: AsyncConnection, destination: str, through: datetime, *, lock: bool = True
) -> list[PaymentRow]:
    """Pending payments at `destination` whose window closed at or before `through` (network time)."""
    query = select(payments).where(
        and_(
            payments.c.destination == destination,
            payments.c.status == "pending",
            payments.c.expires_at <= through,
        )
    )
    if lock:
        query = query.with_for_update()
    return [PaymentRow.from_row(row) for row in (await conn.execute(query)).mappings().all()]


async def count_by_status(conn: AsyncConnection) -> dict[str, int]:
    query = select(payments.c.status, func.count()).group_by(payments.c.status)
    return {row[0]: int(row[1]) for row in (await conn.execute(query)).all()}


async def list_payments(
    conn: AsyncConnection,
    *,
    status: str | None = None,
    order_id: str | None = None,
    buyer_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    before_pk: int | None = None,
    limit: int = 50,
) -> list[PaymentRow]:
    """Newest first; `before_pk` is the cursor (the last `pk` of the previous page)."""
    query = select(payments).order_by(payments.c.pk.desc()).limit(limit)
    if status is not None:
        query = query.where(payments.c.status == status)
    if order_id is not None:
        query = query.where(payments.c.order_id == order_id)
    if buyer_id is not None:
        query = query.where(payments.c.buyer_id == buyer_id)
    if created_after is not None:
        query = query.where(payments.c.created_at >= created_after)
    if created_before is not None:
        query = query.where(payments.c.created_at < created_before)
    if before_pk is not None:
        query = query.where(payments.c.pk < before_pk)
    return [PaymentRow.from_row(row) for row in (await conn.execute(query)).mappings().all()]


@dataclass(frozen=True, slots=True)
class AssetTotal:
    currency: str
    asset_code: str
    asset_issuer: str | None
    count: int
    amount: int
    amount_received: int


async def buyer_stats(conn: AsyncConnection, buyer_id: str) -> tuple[dict[str, int], list[AssetTotal]]:
    """Counts per status, and totals of confirmed payments per asset (never summed across assets)."""
    counts_query = (
        select(payments.c.status, func.count())
        .where(payments.c.buyer_id == buyer_id)
        .group_by(payments.c.status)
    )
    counts = {row[0]: int(row[1]) for row in (await conn.execute(counts_query)).all()}
    totals_query = (
        select(
            payments.c.currency,
            payments.c.asset_code,
            payments.c.asset_issuer,
            func.count(),
            func.sum(payments.c.amount),
            func.sum(payments.c.amount_received),
        )
        .where(payments.c.buyer_id == buyer_id, payments.c.status == "confirmed")
        .group_by(payments.c.currency, payments.c.asset_code, payments.c.asset_issuer)
        .order_by(payments.c.currency)
    )
    totals = [
        AssetTotal(row[0], row[1], row[2], int(row[3]), int(row[4]), int(row[5]))
        for row in (await conn.execute(totals_query)).all()
    ]
    return counts, totals


async def has_destination(conn: AsyncConnection, destination: str) -> bool:
    query = select(payments.c.pk).where(payments.c.destination == destination).limit(1)
    return (await conn.execute(query)).first() is not None


async def earliest_pending_expiry(conn: AsyncConnection) -> datetime | None:
    query = select(func.min(payments.c.expires_at)).where(payments.c.status == "pending")
    value: datetime | None = (await conn.execute(query)).scalar_one()
    return value


async def destinations_expiring(conn: AsyncConnection, through: datetime) -> list[str]:
    query = (
        select(payments.c.destination)
        .where(payments.c.status == "pending", payments.c.expires_at <= through)
        .distinct()
    )
    return [row[0] for row in (await conn.execute(query)).all()]


async def all_destinations(conn: AsyncConnection) -> list[str]:
    return [row[0] for row in (await conn.execute(select(payments.c.destination).distinct())).all()]


async def inconsistent_totals(
    conn: AsyncConnection, payment_ids: list[str] | None = None
) -> list[tuple[str, int, int]]:
    """Payments whose amount_received differs from the sum of their accepted and late receipts."""
    from shared.store.schema import receipts

    counted = (
        select(receipts.c.payment_id, func.sum(receipts.c.amount).label("summed"))
        .where(receipts.c.disposition.in_(["accepted", "late"]))
        .group_by(receipts.c.payment_id)
        .subquery()
    )
    summed = func.coalesce(counted.c.summed, 0)
    query = (
        select(payments.c.id, payments.c.amount_received, summed)
        .select_from(payments.outerjoin(counted, counted.c.payment_id == payments.c.id))
        .where(payments.c.amount_received != summed)
        .order_by(payments.c.pk)
    )
    if payment_ids is not None:
        query = query.where(payments.c.id.in_(payment_ids))
    return [(row[0], int(row[1]), int(row[2])) for row in (await conn.execute(query)).all()]


async def by_reference_set(
    conn: AsyncConnection, references: Iterable[int], *, lock: bool = True
) -> dict[int, PaymentRow]:
    """Payments carrying any of `references` (unique across destinations), locked for update."""
    refs = sorted(set(references))
    found: dict[int, PaymentRow] = {}
    for start in range(0, len(refs), 500):  # bounded IN lists
        query = select(payments).where(payments.c.reference.in_(refs[start : start + 500]))
        if lock:
            query = query.with_for_update()
        for row in (await conn.execute(query)).mappings().all():
            found[row["reference"]] = PaymentRow.from_row(row)
    return found


# The columns a payment change may touch (the lifecycle's, its timestamps and what completed it).
CHANGEABLE = (
    "status",
    "amount_received",
    "amount_late",
    "amount_refunded",
    "flag_late",
    "flag_overpaid",
    "flag_manual",
    "failure_reason",
    "stellar_transaction_id",
    "source_account",
    "updated_at",
    "confirmed_at",
    "failed_at",
    "refunded_at",
)


async def update_payments(conn: AsyncConnection, rows: list[PaymentRow]) -> None:
    """Write the changeable columns of many payments in one statement (executemany)."""
    if not rows:
        return
    statement = (
        update(payments)
        .where(payments.c.id == bindparam("p_id"))
        .values({name: bindparam(f"p_{name}", type_=payments.c[name].type) for name in CHANGEABLE})
    )
    params = [{"p_id": row.id, **{f"p_{name}": getattr(row, name) for name in CHANGEABLE}} for row in rows]
    await conn.execute(statement, params)
