"""Outbound webhooks: the delivery log, redelivery, and endpoint state (scope webhooks:manage).

The API never sends webhooks itself: a redelivery puts the delivery back in the outbox, due now,
and the watcher's dispatcher sends it (same event, so the same `webhook-id`).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from api.keys import APPLY_CONTEXT, DATABASE, SETTINGS
from api.models import (
    DeliveryDetail,
    DeliveryList,
    DeliveryListQuery,
    DeliveryOut,
    EndpointList,
    EndpointOut,
    ProblemOut,
)
from api.problems import conflict, not_found
from api.responses import json_response
from api.routes import ROUTES
from shared.config import WEBHOOK_NAME_PATTERN
from shared.outbox import configured_endpoints
from shared.store import webhooks as webhook_store
from shared.store.webhooks import AttemptRow, DeliveryRow, EndpointRow, Redelivery
from shared.views import iso

SCOPE = "webhooks:manage"
PROBLEMS: dict[int, type[ProblemOut] | None] = {401: ProblemOut, 403: ProblemOut}


async def ensure_configured_endpoints(app: web.Application) -> None:
    """At start: endpoints this API queues deliveries for must exist in the store before it emits."""
    configured = configured_endpoints(app[SETTINGS])
    if configured:
        async with app[DATABASE].write() as conn:
            await webhook_store.ensure_endpoints(conn, configured, app[APPLY_CONTEXT].now())


def shown_url(url: str) -> str:
    """An endpoint URL without credentials, query or fragment (they may carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def attempt_view(attempt: AttemptRow) -> dict[str, Any]:
    return {
        "attempted_at": iso(attempt.attempted_at),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "outcome": attempt.outcome,
    }


def delivery_view(
    row: DeliveryRow, endpoint: str, attempts: list[AttemptRow], request: web.Request
) -> dict[str, Any]:
    now = request.app[APPLY_CONTEXT].now()
    return {
        "id": row.id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "endpoint": endpoint,
        "status": row.status,
        "in_flight": row.status == "pending" and row.in_flight(now),
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "give_up_at": iso(row.give_up_at),
        "last_attempt_at": iso(row.last_attempt_at),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "delivered_at": iso(row.delivered_at),
        "created_at": iso(row.created_at),
        "attempt_log": [attempt_view(a) for a in attempts],
    }


def endpoint_view(row: EndpointRow, backlog: int) -> dict[str, Any]:
    status = "removed" if row.removed_at else "disabled" if row.disabled_at else "active"
    return {
        "name": row.name,
        "url": shown_url(row.url),
        "status": status,
        "disabled_at": iso(row.disabled_at),
        "disabled_reason": row.disabled_reason,
        "backlog": backlog,
    }


def _delivery_id(request: web.Request) -> int:
    text = request.match_info["delivery_id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise not_found("delivery")
    return int(text)


@ROUTES.route(
    "GET",
    "/webhooks/deliveries",
    summary="Webhook deliveries with their attempts, newest first (filters; cursor pagination)",
    scope=SCOPE,
    query=DeliveryListQuery,
    responses={200: DeliveryList, 422: ProblemOut, **PROBLEMS},
    tag="webhooks",
)
async def list_deliveries(request: web.Request, query: DeliveryListQuery) -> web.Response:
    async with request.app[DATABASE].read() as conn:
        endpoints = {row.id: row.name for row in await webhook_store.list_endpoints(conn)}
        endpoint_id: int | None = None
        if query.endpoint is not None:
            matching = [i for i, name in endpoints.items() if name == query.endpoint]
            if not matching:
                return json_response({"deliveries": [], "next_cursor": None})
            endpoint_id = matching[0]
        rows = await webhook_store.list_deliveries(
            conn,
            status=query.status,
            event_type=query.event_type,
            endpoint_id=endpoint_id,
            event_id=query.event_id,
            before_id=int(query.cursor) if query.cursor else None,
            limit=query.limit + 1,
        )
        page = rows[: query.limit]
        attempts = await webhook_store.attempts_for(conn, [row.id for row in page])
    return json_response(
        {
            "deliveries": [
                delivery_view(row, endpoints[row.endpoint_id], attempts[row.id], request) for row in page
            ],
            "next_cursor": str(page[-1].id) if len(rows) > query.limit else None,
        }
    )


@ROUTES.route(
    "GET",
    "/webhooks/deliveries/{delivery_id}",
    summary="One webhook delivery: its attempts and the exact payload sent",
    scope=SCOPE,
    responses={200: DeliveryDetail, 404: ProblemOut, **PROBLEMS},
    tag="webhooks",
)
async def get_delivery(request: web.Request) -> web.Response:
    delivery_id = _delivery_id(request)
    async with request.app[DATABASE].read() as conn:
        row = await webhook_store.get_delivery(conn, delivery_id)
        if row is None:
            raise not_found("delivery")
        endpoints = {e.id: e.name for e in await webhook_store.list_endpoints(conn)}
        attempts = await webhook_store.attempts_for(conn, [row.id])
    view = delivery_view(row, endpoints[row.endpoint_id], attempts[row.id], request)
    return json_response({**view, "payload": json.loads(row.body)})


@ROUTES.route(
    "POST",
    "/webhooks/deliveries/{delivery_id}/redeliver",
    summary="Send a delivery again, now, with a fresh retry schedule (same event: same webhook-id)",
    scope=SCOPE,
    responses={202: DeliveryOut, 404: ProblemOut, 409: ProblemOut, **PROBLEMS},
    tag="webhooks",
)
async def redeliver(request: web.Request) -> web.Response:
    delivery_id = _delivery_id(request)
    ctx = request.app[APPLY_CONTEXT]
    window = timedelta(hours=request.app[SETTINGS].webhook_delivery.retry_for_hours)
    now = ctx.now()
    async with request.app[DATABASE].write() as conn:
        outcome, row = await webhook_store.redeliver(conn, delivery_id, now=now, give_up_at=now + window)
        if outcome is Redelivery.SCHEDULED and row is not None:
            endpoints = {e.id: e.name for e in await webhook_store.list_endpoints(conn)}
            attempts = await webhook_store.attempts_for(conn, [row.id])
    if outcome is Redelivery.NOT_FOUND or row is None:
        raise not_found("delivery")
    if outcome is Redelivery.IN_FLIGHT:
        raise conflict("this delivery is being attempted right now; try again when the attempt is over")
    if outcome is Redelivery.ENDPOINT_DISABLED:
        raise conflict(
            "its endpoint is disabled (the receiver answered 410 Gone): enable it first with "
            "POST /webhooks/endpoints/{name}/enable"
        )
    if outcome is Redelivery.ENDPOINT_REMOVED:
        raise conflict("its endpoint is no longer in the configuration")
    return json_response(
        delivery_view(row, endpoints[row.endpoint_id], attempts[row.id], request), status=202
    )


@ROUTES.route(
    "GET",
    "/webhooks/endpoints",
    summary="Webhook endpoints known to the store: active, disabled (410 Gone) or removed from the config",
    scope=SCOPE,
    responses={200: EndpointList, **PROBLEMS},
    tag="webhooks",
)
async def list_endpoints(request: web.Request) -> web.Response:
    async with request.app[DATABASE].read() as conn:
        rows = await webhook_store.list_endpoints(conn)
        backlog = await webhook_store.backlog(conn)
    return json_response({"endpoints": [endpoint_view(row, backlog.get(row.id, 0)) for row in rows]})


@ROUTES.route(
    "POST",
    "/webhooks/endpoints/{name}/enable",
    summary="Enable an endpoint disabled by a 410 Gone answer (new events are queued for it again)",
    scope=SCOPE,
    responses={200: EndpointOut, 404: ProblemOut, 409: ProblemOut, **PROBLEMS},
    tag="webhooks",
)
async def enable_endpoint(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not re.fullmatch(WEBHOOK_NAME_PATTERN, name):
        raise not_found("endpoint")
    now = request.app[APPLY_CONTEXT].now()
    async with request.app[DATABASE].write() as conn:
        row = await webhook_store.endpoint_named(conn, name)
        if row is None:
            raise not_found("endpoint")
        if row.removed_at is not None:
            raise conflict("this endpoint is no longer in the configuration")
        row = await webhook_store.enable_endpoint(conn, name, now)
        backlog = await webhook_store.backlog(conn)
    assert row is not None
    return json_response(endpoint_view(row, backlog.get(row.id, 0)))
