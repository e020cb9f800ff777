"""SQL for verified refunds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import refunds


@dataclass(frozen=True, slots=True)
class RefundRow:
    id: int
    payment_id: str
    operation_id: str
    transaction_hash: str
    to_account: str
    amount: int
    asset_code: str
    asset_issuer: str | None
    ledger: int | None
    closed_at: datetime
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> RefundRow:
        return cls(**{name: row[name] for name in cls.__slots__})


async def insert_refund(conn: AsyncConnection, values: dict[str, Any]) -> RefundRow:
    result = await conn.execute(insert(refunds).values(**values).returning(*refunds.c))
    return RefundRow.from_row(result.mappings().one())


async def recorded_operations(conn: AsyncConnection, operation_ids: Iterable[str]) -> set[str]:
    ids = list(operation_ids)
    if not ids:
        return set()
    query = select(refunds.c.operation_id).where(refunds.c.operation_id.in_(ids))
    return {row[0] for row in (await conn.execute(query)).all()}


_FOR_PAYMENT = select(refunds).where(refunds.c.payment_id == bindparam("payment_id")).order_by(refunds.c.id)


async def for_payment(conn: AsyncConnection, payment_id: str) -> list[RefundRow]:
    rows = (await conn.execute(_FOR_PAYMENT, {"payment_id": payment_id})).mappings().all()
    return [RefundRow.from_row(row) for row in rows]


async def for_payments(conn: AsyncConnection, payment_ids: Iterable[str]) -> dict[str, list[RefundRow]]:
    ids = list(payment_ids)
    found: dict[str, list[RefundRow]] = {payment_id: [] for payment_id in ids}
    if not ids:
        return found
    query = select(refunds).where(refunds.c.payment_id.in_(ids)).order_by(refunds.c.id)
    for row in (await conn.execute(query)).mappings().all():
        found[row["payment_id"]].append(RefundRow.from_row(row))
    return found
