"""The aiohttp application and its runner (systemd-aware: READY=1 only once the socket listens)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

import api.routes.events
import api.routes.inbound
import api.routes.payments
import api.routes.receipts
import api.routes.system  # noqa: F401 - registers routes
from api.keys import APPLY_CONTEXT, DATABASE, HORIZON, OPENAPI, SETTINGS
from api.middleware import problem_middleware, request_id_middleware
from api.openapi import build_openapi
from api.routes import ROUTES
from api.routes.webhooks import ensure_configured_endpoints
from paywatch import __version__
from shared.apply import context_from_settings
from shared.config import Settings
from shared.stellar.horizon import HorizonClient
from shared.store.engine import Database
from shared.systemd import notify

log = structlog.get_logger("paywatch.api")
MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings, db: Database) -> web.Application:
    app = web.Application(
        middlewares=[request_id_middleware, problem_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SETTINGS] = settings
    app[DATABASE] = db
    app[APPLY_CONTEXT] = context_from_settings(settings)
    app[OPENAPI] = build_openapi(ROUTES.specs, version=__version__)
    ROUTES.install(app)
    app.on_startup.append(ensure_configured_endpoints)
    app.cleanup_ctx.append(_horizon_client)
    return app


async def _horizon_client(app: web.Application) -> AsyncIterator[None]:
    """One HTTP session for Horizon calls (verify, refund, inbound webhook), closed with the app."""
    async with aiohttp.ClientSession() as session:
        app[HORIZON] = HorizonClient(app[SETTINGS].network.horizon_urls, session)
        yield


async def serve(settings: Settings, db: Database, stop: asyncio.Event) -> None:
    """Run until `stop` is set; tell systemd READY only after the socket listens."""
    runner = web.AppRunner(create_app(settings, db), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.api.host, settings.api.port)
    await site.start()
    log.info("api listening", url=f"http://{settings.api.host}:{settings.api.port}")
    notify(f"READY=1\nSTATUS=listening on {settings.api.host}:{settings.api.port}")
    try:
        await stop.wait()
    finally:
        notify("STOPPING=1")
        await runner.cleanup()


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
