"""SQL for outbound webhooks: endpoints, the delivery outbox and the attempt log.

Claims: `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING …` hands each due
delivery to one dispatcher. On SQLite the same statement renders without FOR UPDATE and the writer's
BEGIN IMMEDIATE serialises claimers. A claim is a lease: it sets a random token and pushes
`next_attempt_at` to the end of the lease, so a delivery whose claimer died becomes due again by
itself. Results are written only under the token that claimed the delivery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Text, bindparam, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.store.schema import webhook_attempts, webhook_deliveries, webhook_endpoints
from shared.store.types import UTCTimestamp

REMOVED_ERROR = "endpoint removed from the configuration"


@dataclass(frozen=True, slots=True)
class EndpointRow:
    id: int
    name: str
    url: str
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None
    removed_at: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> EndpointRow:
        return cls(**{name: row[name] for name in cls.__slots__})

    @property
    def active(self) -> bool:
        return self.disabled_at is None and self.removed_at is None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    event_id: int
    endpoint_id: int
    event_type: str
    body: str
    status: str
    attempts: int
    step: int
    next_attempt_at: datetime | None
    give_up_at: datetime
    lease_token: str | None
    leased_until: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> DeliveryRow:
        return cls(**{name: row[name] for name in cls.__slots__})

    def in_flight(self, now: datetime) -> bool:
        return self.lease_token is not None and self.leased_until is not None and self.leased_until > now


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: int
    delivery_id: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str

    @classmethod
    def from_row(cls, row: RowMapping) -> AttemptRow:
        return cls(**{name: row[name] for name in cls.__slots__})


# --- endpoints ----------------------------------------------------------------------------------


def _insert_new_endpoints(conn: AsyncConnection, values: list[dict[str, Any]]) -> Any:
    """INSERT … ON CONFLICT (name) DO NOTHING: the API and the watcher may add the same one at once."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(webhook_endpoints).values(values).on_conflict_do_nothing(index_elements=["name"])


async def list_endpoints(conn: AsyncConnection) -> list[EndpointRow]:
    rows = (await conn.execute(select(webhook_endpoints).order_by(webhook_endpoints.c.name))).mappings()
    return [EndpointRow.from_row(row) for row in rows]


async def endpoint_named(conn: AsyncConnection, name: str) -> EndpointRow | None:
    query = select(webhook_endpoints).where(webhook_endpoints.c.name == name)
    row = (await conn.execute(query)).mappings().first()
    return EndpointRow.from_row(row) if row is not None else None


async def ensure_endpoints(
    conn: AsyncConnection, configured: Sequence[tuple[str, str]], now: datetime
) -> None:
    """Add configured endpoints the store does not know yet; never changes existing ones (the API)."""
    if configured:
        await conn.execute(
            _insert_new_endpoints(
                conn, [{"name": n, "url": u, "created_at": now, "updated_at": now} for n, u in configured]
            )
        )


async def sync_endpoints(
    conn: AsyncConnection, configured: Sequence[tuple[str, str]], now: datetime
) -> dict[str, EndpointRow]:
    """Make the endpoint table follow the configuration (the watcher, at start).

    A new URL for a name re-enables an endpoint disabled by 410 (it is a different receiver). An
    endpoint no longer configured is marked removed and its pending deliveries fail: without its
    secret they cannot be signed. Returns the configured endpoints by name.
    """
    await ensure_endpoints(conn, configured, now)
    by_name = {row.name: row for row in await list_endpoints(conn)}
    urls = dict(configured)
    for row in by_name.values():
        changes: dict[str, Any] = {}
        if row.name not in urls:
            if row.removed_at is None:
                changes["removed_at"] = now
                await _fail_pending(conn, row.id, REMOVED_ERROR, now, include_leased=True)
        else:
            if row.removed_at is not None:
                changes["removed_at"] = None
            if row.url != urls[row.name]:
                changes.update(url=urls[row.name], disabled_at=None, disabled_reason=None)
        if changes:
            await conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == row.id)
                .values(updated_at=now, **changes)
            )
    return {row.name: row for row in await list_endpoints(conn) if row.name in urls}


async def disable_endpoint(conn: AsyncConnection, endpoint_id: int, reason: str, now: datetime) -> int:
    """Disable an endpoint (410 Gone) and fail its pending deliveries that are not in flight."""
    await conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(disabled_at=now, disabled_reason=reason, updated_at=now)
    )
    return await _fail_pending(conn, endpoint_id, f"endpoint disabled: {reason}", now, include_leased=False)


async def enable_endpoint(conn: AsyncConnection, name: str, now: datetime) -> EndpointRow | None:
    await conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.name == name)
        .values(disabled_at=None, disabled_reason=None, updated_at=now)
    )
    return await endpoint_named(conn, name)


async def _fail_pending(
    conn: AsyncConnection, endpoint_id: int, error: str, now: datetime, *, include_leased: bool
) -> int:
    d = webhook_deliveries.c
    conditions = [d.endpoint_id == endpoint_id, d.status == "pending"]
    if not include_leased:
        conditions.append(or_(d.lease_token.is_(None), d.leased_until <= now))
    result = await conn.execute(
        update(webhook_deliveries)
        .where(*conditions)
        .values(
            status="failed",
            next_attempt_at=None,
            lease_token=None,
            leased_until=None,
            last_error=error,
            updated_at=now,
        )
    )
    return int(result.rowcount)


# --- the outbox ---------------------------------------------------------------------------------


async def enqueue(
    conn: AsyncConnection,
    *,
    event_id: int,
    event_type: str,
    endpoint_names: Sequence[str],
    body: str,
    now: datetime,
    give_up_at: datetime,
) -> int:
    """One pending delivery per named endpoint that is neither disabled nor removed (one statement)."""
    if not endpoint_names:
        return 0
    e = webhook_endpoints.c
    source = select(
        literal(event_id),
        e.id,
        literal(event_type),
        literal(body, Text),
        literal("pending"),
        literal(now, UTCTimestamp),
        literal(give_up_at, UTCTimestamp),
        literal(now, UTCTimestamp),
        literal(now, UTCTimestamp),
    ).where(e.name.in_(list(endpoint_names)), e.disabled_at.is_(None), e.removed_at.is_(None))
    columns = [
        "event_id",
        "endpoint_id",
        "event_type",
        "body",
        "status",
        "next_attempt_at",
        "give_up_at",
        "created_at",
        "updated_at",
    ]
    result = await conn.execute(webhook_deliveries.insert().from_select(columns, source))
    return int(result.rowcount)


async def claim(
    conn: AsyncConnection, *, endpoint_id: int, limit: int, now: datetime, lease_until: datetime, token: str
) -> list[DeliveryRow]:
    """Lease up to `limit` due deliveries of one endpoint (skipping rows other claimers hold)."""
    d = webhook_deliveries.c
    e = webhook_endpoints.c
    active = select(e.id).where(e.id == endpoint_id, e.disabled_at.is_(None), e.removed_at.is_(None)).exists()
    due = (
        select(d.id)
        .where(d.endpoint_id == endpoint_id, d.status == "pending", d.next_attempt_at <= now, active)
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await conn.execute(
        update(webhook_deliveries)
        .where(d.id.in_(due.scalar_subquery()))
        .values(
            lease_token=token,
            leased_until=lease_until,
            next_attempt_at=lease_until,  # due again by itself if this claimer never reports back
            attempts=d.attempts + 1,
            step=d.step + 1,
            updated_at=now,
        )
        .returning(*webhook_deliveries.c)
    )
    rows = [DeliveryRow.from_row(row) for row in result.mappings().all()]
    return sorted(rows, key=lambda row: row.id)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished attempt: its log entry, and the delivery's new values if the lease still holds."""

    delivery_id: int
    token: str
    attempt: dict[str, Any]
    changes: dict[str, Any]


async def settle(conn: AsyncConnection, outcomes: Sequence[Outcome]) -> set[int]:
    """Record attempts and, where their claimer still holds the lease, the deliveries' new state.

    Returns the ids whose state was written. A lease is lost when it expired and another claimer
    took the delivery, or when a disable or a removal failed it meanwhile: the attempt is still
    logged, the state is left alone. A few statements for any number of outcomes (executemany).
    """
    if not outcomes:
        return set()
    d = webhook_deliveries.c
    held = (
        select(d.id)
        .where(
            tuple_(d.id, d.lease_token).in_([(o.delivery_id, o.token) for o in outcomes]),
            d.status == "pending",
        )
        .with_for_update()
    )
    kept = {int(row[0]) for row in (await conn.execute(held)).all()}
    await conn.execute(
        webhook_attempts.insert(), [{"delivery_id": o.delivery_id, **o.attempt} for o in outcomes]
    )
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for outcome in outcomes:
        if outcome.delivery_id in kept:
            values = {**outcome.changes, "lease_token": None, "leased_until": None}
            shape = tuple(sorted(values))
            by_shape.setdefault(shape, []).append(
                {"k_id": outcome.delivery_id, **{f"v_{name}": value for name, value in values.items()}}
            )
    for shape, rows in by_shape.items():
        statement = (
            update(webhook_deliveries)
            .where(d.id == bindparam("k_id"))
            .values({name: bindparam(f"v_{name}") for name in shape})
        )
        await conn.execute(statement, rows)
    return kept


async def release(conn: AsyncConnection, tokens: Iterable[str], now: datetime) -> int:
    """Hand back leases of attempts cut short by a shutdown: due again at once, for the next start."""
    wanted = list(tokens)
    if not wanted:
        return 0
    d = webhook_deliveries.c
    result = await conn.execute(
        update(webhook_deliveries)
        .where(d.lease_token.in_(wanted), d.status == "pending")
        .values(lease_token=None, leased_until=None, next_attempt_at=now, updated_at=now)
    )
    return int(result.rowcount)


class Redelivery(Enum):
    SCHEDULED = "scheduled"
    NOT_FOUND = "not_found"
    IN_FLIGHT = "in_flight"
    ENDPOINT_DISABLED = "endpoint_disabled"
    ENDPOINT_REMOVED = "endpoint_removed"


async def redeliver(
    conn: AsyncConnection, delivery_id: int, *, now: datetime, give_up_at: datetime
) -> tuple[Redelivery, DeliveryRow | None]:
    """Schedule a delivery again, now, with a fresh retry schedule (same event, same webhook-id)."""
    d = webhook_deliveries.c
    query = select(webhook_deliveries).where(d.id == delivery_id).with_for_update()
    found = (await conn.execute(query)).mappings().first()
    if found is None:
        return Redelivery.NOT_FOUND, None
    row = DeliveryRow.from_row(found)
    endpoint_row = (
        (await conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == row.endpoint_id)))
        .mappings()
        .one()
    )
    endpoint = EndpointRow.from_row(endpoint_row)
    if endpoint.removed_at is not None:
        return Redelivery.ENDPOINT_REMOVED, row
    if endpoint.disabled_at is not None:
        return Redelivery.ENDPOINT_DISABLED, row
    if row.status == "pending" and row.in_flight(now):
        return Redelivery.IN_FLIGHT, row
    await conn.execute(
        update(webhook_deliveries)
        .where(d.id == delivery_id)
        .values(
            status="pending",
            step=0,
            next_attempt_at=now,
            give_up_at=give_up_at,
            lease_token=None,
            leased_until=None,
            updated_at=now,
        )
    )
    return Redelivery.SCHEDULED, await get_delivery(conn, delivery_id)


# --- reading ------------------------------------------------------------------------------------


async def get_delivery(conn: AsyncConnection, delivery_id: int) -> DeliveryRow | None:
    query = select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
    row = (await conn.execute(query)).mappings().first()
    return DeliveryRow.from_row(row) if row is not None else None


async def list_deliveries(
    conn: AsyncConnection,
    *,
    status: str | None = None,
    event_type: str | None = None,
    endpoint_id: int | None = None,
    event_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[DeliveryRow]:
    """Newest first; `before_id` is the cursor (the last id of the previous page)."""
    d = webhook_deliveries.c
    query = select(webhook_deliveries).order_by(d.id.desc()).limit(limit)
    if status is not None:
        query = query.where(d.status == status)
    if event_type is not None:
        query = query.where(d.event_type == event_type)
    if endpoint_id is not None:
        query = query.where(d.endpoint_id == endpoint_id)
    if event_id is not None:
        query = query.where(d.event_id == event_id)
    if before_id is not None:
        query = query.where(d.id < before_id)
    return [DeliveryRow.from_row(row) for row in (await conn.execute(query)).mappings().all()]


async def attempts_for(conn: AsyncConnection, delivery_ids: Sequence[int]) -> dict[int, list[AttemptRow]]:
    found: dict[int, list[AttemptRow]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return found
    a = webhook_attempts.c
    query = select(webhook_attempts).where(a.delivery_id.in_(list(delivery_ids))).order_by(a.id)
    for row in (await conn.execute(query)).mappings().all():
        attempt = AttemptRow.from_row(row)
        found[attempt.delivery_id].append(attempt)
    return found


async def due_endpoints(conn: AsyncConnection, endpoint_ids: Sequence[int], now: datetime) -> set[int]:
    """Which of these endpoints have a delivery due now (a cheap read before claiming)."""
    d = webhook_deliveries.c
    query = (
        select(d.endpoint_id)
        .where(d.endpoint_id.in_(list(endpoint_ids)), d.status == "pending", d.next_attempt_at <= now)
        .distinct()
    )
    return {int(row[0]) for row in (await conn.execute(query)).all()}


async def backlog(conn: AsyncConnection) -> dict[int, int]:
    """Pending deliveries (waiting or in flight) per endpoint id."""
    d = webhook_deliveries.c
    query = select(d.endpoint_id, func.count()).where(d.status == "pending").group_by(d.endpoint_id)
    return {int(endpoint_id): int(count) for endpoint_id, count in (await conn.execute(query)).all()}


async def active_endpoint_ids(conn: AsyncConnection, names: Sequence[str]) -> dict[str, int]:
    """Ids of the named endpoints that are neither disabled nor removed."""
    if not names:
        return {}
    e = webhook_endpoints.c
    query = select(e.name, e.id).where(
        e.name.in_(list(names)), e.disabled_at.is_(None), e.removed_at.is_(None)
    )
    return {str(name): int(endpoint_id) for name, endpoint_id in (await conn.execute(query)).all()}


async def insert_deliveries(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Many pending deliveries in one statement (`event_id`, `endpoint_id`, `event_type`, `body`, times)."""
    if rows:
        await conn.execute(webhook_deliveries.insert(), rows)
