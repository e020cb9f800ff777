"""The webhook outbox as the apply path sees it: which endpoints want an event, and the exact body.

`emit` (shared/apply.py) calls `enqueue_deliveries` inside the event's own transaction, so an event
and its deliveries are committed together or not at all. The body is serialised here, once,
minified; the dispatcher signs and sends exactly these bytes on every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared import jsontext
from shared.config import Settings
from shared.domain.event_filters import subscribed
from shared.store import webhooks as webhook_store
from shared.views import iso

# Version of the payload's shape; a receiver can branch on it when the shape changes.
API_VERSION = "2026-11-26"


@dataclass(frozen=True, slots=True)
class Subscription:
    endpoint: str  # the endpoint's configured name
    patterns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outbox:
    subscriptions: tuple[Subscription, ...] = ()
    retry_window: timedelta = timedelta(hours=72)

    @classmethod
    def from_settings(cls, settings: Settings) -> Outbox:
        return cls(
            subscriptions=tuple(Subscription(w.name, tuple(w.events)) for w in settings.webhooks),
            retry_window=timedelta(hours=settings.webhook_delivery.retry_for_hours),
        )

    def endpoints_for(self, event_type: str) -> list[str]:
        return [s.endpoint for s in self.subscriptions if subscribed(s.patterns, event_type)]


def configured_endpoints(settings: Settings) -> list[tuple[str, str]]:
    """(name, url) of every configured endpoint."""
    return [(w.name, w.url) for w in settings.webhooks]


def event_body(
    *, event_id: int, event_type: str, created_at: datetime, payment_id: str | None, data: dict[str, Any]
) -> str:
    """The event object of SPEC §6 (as GET /events shows it), versioned, as minified JSON."""
    return event_body_json(
        event_id=event_id,
        event_type=event_type,
        created_at=created_at,
        payment_id=payment_id,
        data_json=jsontext.dumps(data),
    )


def event_body_json(
    *, event_id: int, event_type: str, created_at: datetime, payment_id: str | None, data_json: str
) -> str:
    """`event_body` around data already serialized (as stored with the event): not encoded twice."""
    envelope = {
        "id": event_id,
        "type": event_type,
        "created_at": iso(created_at),
        "api_version": API_VERSION,
        "payment_id": payment_id,
    }
    head = jsontext.dumps(envelope)
    return f'{head[:-1]},"data":{data_json}}}'


async def enqueue_deliveries(
    conn: AsyncConnection,
    outbox: Outbox,
    *,
    event_id: int,
    event_type: str,
    created_at: datetime,
    payment_id: str | None,
    data: dict[str, Any],
) -> int:
    """Write one delivery per subscribed endpoint, in the caller's (the event's) transaction."""
    endpoints = outbox.endpoints_for(event_type)
    if not endpoints:
        return 0
    body = event_body(
        event_id=event_id, event_type=event_type, created_at=created_at, payment_id=payment_id, data=data
    )
    return await webhook_store.enqueue(
        conn,
        event_id=event_id,
        event_type=event_type,
        endpoint_names=endpoints,
        body=body,
        now=created_at,
        give_up_at=created_at + outbox.retry_window,
    )
