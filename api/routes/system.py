"""Health, readiness, metrics and the OpenAPI document (no authentication)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler
from sqlalchemy.exc import SQLAlchemyError

from api.keys import DATABASE, OPENAPI
from api.models import HealthOut
from api.responses import json_response
from api.routes import ROUTES
from shared.metrics import REGISTRY
from shared.store.migrate import SchemaError, ensure_schema


@ROUTES.route("GET", "/healthz", summary="Liveness", scope=None, responses={200: HealthOut}, tag="system")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@ROUTES.route(
    "GET",
    "/readyz",
    summary="Readiness: the store is reachable and its schema is current",
    scope=None,
    responses={200: HealthOut, 503: HealthOut},
    tag="system",
)
async def readyz(request: web.Request) -> web.Response:
    db = request.app[DATABASE]
    try:
        await asyncio.to_thread(ensure_schema, db.url, migrate_fresh_sqlite=False)
    except (SchemaError, SQLAlchemyError, OSError) as exc:
        return json_response({"status": "unavailable", "detail": str(exc).splitlines()[0][:200]}, status=503)
    return json_response({"status": "ok"})


@ROUTES.route(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    scope=None,
    responses={200: None},
    tag="system",
)
async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


_prometheus = make_aiohttp_handler(REGISTRY)


@ROUTES.route(
    "GET",
    "/metrics",
    summary="Prometheus metrics (text exposition; OpenMetrics when asked for in Accept)",
    scope=None,
    responses={200: None},
    tag="system",
)
async def metrics(request: web.Request) -> web.StreamResponse:
    return await _prometheus(request)
