"""The event feed: every event once, in id order (for reconciliation)."""

from __future__ import annotations

import json

from aiohttp import web

from api.keys import DATABASE
from api.models import EventList, EventQuery, ProblemOut
from api.problems import validation_problem
from api.responses import json_response
from api.routes import ROUTES
from shared.domain.lifecycle import EVENT_TYPES
from shared.store import events as event_store
from shared.views import iso


@ROUTES.route(
    "GET",
    "/events",
    summary="Events after an id, in id order (`after`, `limit`, `type` comma-separated)",
    scope="events:read",
    query=EventQuery,
    responses={200: EventList, 401: ProblemOut, 403: ProblemOut, 422: ProblemOut},
    tag="events",
)
async def list_events(request: web.Request, query: EventQuery) -> web.Response:
    types = [part.strip() for part in (query.type or "").split(",") if part.strip()]
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise validation_problem([{"field": "type", "message": f"unknown event type {unknown[0]!r}"}])
    async with request.app[DATABASE].read() as conn:
        rows = await event_store.list_events(conn, after_id=query.after, limit=query.limit, types=types)
    events = [
        {
            "id": row.id,
            "type": row.type,
            "created_at": iso(row.created_at),
            "payment_id": row.payment_id,
            "data": json.loads(row.data),
        }
        for row in rows
    ]
    return json_response({"events": events, "next_after": rows[-1].id if rows else query.after})
