"""The watcher's state for operators (the same data as `paywatch status`)."""

from __future__ import annotations

from aiohttp import web

from api.keys import DATABASE
from api.models import MonitorStatus, ProblemOut
from api.responses import json_response
from api.routes import ROUTES
from shared.monitor import collect_status


@ROUTES.route(
    "GET",
    "/payments/monitor/status",
    summary="Watcher heartbeat and state, mode, streams with cursor and lag, pending payments, outbox backlog",
    scope="admin",
    responses={200: MonitorStatus, 401: ProblemOut, 403: ProblemOut},
    tag="system",
)
async def monitor_status(request: web.Request) -> web.Response:
    data = await collect_status(request.app[DATABASE])
    return json_response(MonitorStatus.model_validate(data).model_dump(mode="json"))
