"""The aiohttp application and its runner (systemd-aware: READY=1 only once the socket listens)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import aiohttp
import structlog
from aiohttp import web

import api.routes.events
import api.routes.inbound
import api.routes.monitor
import api.routes.pages
import api.routes.payments
import api.routes.receipts
import api.routes.system  # noqa: F401 - registers routes
from api.auth import KEY_CACHE, KeyCache
from api.keys import APPLY_CONTEXT, DATABASE, HORIZON, OPENAPI, SETTINGS
from api.middleware import observe_middleware, problem_middleware, request_id_middleware
from api.openapi import build_openapi
from api.routes import ROUTES
from api.routes.webhooks import ensure_configured_endpoints
from paywatch import __version__
from shared.apply import context_from_settings
from shared.clock import utcnow
from shared.config import Settings
from shared.stellar.horizon import HorizonClient
from shared.store.engine import Database
from shared.systemd import notify, ping_watchdog, status_text, watchdog_interval

log = structlog.get_logger("paywatch.api")
MAX_BODY_BYTES = 64 * 1024
SHUTDOWN_TIMEOUT = 10.0  # in-flight requests get this long on SIGTERM (the unit's TimeoutStopSec is 30 s)


def create_app(settings: Settings, db: Database, *, now: Callable[[], datetime] = utcnow) -> web.Application:
    """The API application. `now` is the wall clock used for new payments (tests shift it)."""
    app = web.Application(
        middlewares=[request_id_middleware, observe_middleware, problem_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[DATABASE] = db
    app[APPLY_CONTEXT] = context_from_settings(settings, now)
    app[KEY_CACHE] = KeyCache()
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


async def serve(
    settings: Settings,
    db: Database,
    stop: asyncio.Event,
    *,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Run until `stop` is set; tell systemd READY only after the socket listens.

    `on_listening` is called with the base URL once it does (the real port when configured as 0).

    Under a systemd watchdog the API pings while its event loop turns: a wedged loop is restarted.
    The store being down is not a reason to restart the API; /readyz reports it.
    """
    runner = web.AppRunner(
        create_app(settings, db), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.api.host, settings.api.port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    host, port = runner.addresses[0][:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    log.info("api listening", url=url)
    if on_listening is not None:
        on_listening(url)
    api = settings.api
    if not api.public_url and (api.port == 0 or api.host in ("", "0.0.0.0", "::")):  # noqa: S104
        log.warning(
            "[api] public_url is not set: payments' pay_url will not reach this API",
            pay_url_base=api.base_url,
        )
    notify(f"READY=1\nSTATUS={status_text(f'listening on {url}')}")
    interval = watchdog_interval()
    pinger = asyncio.create_task(ping_watchdog(interval / 4)) if interval else None
    try:
        await stop.wait()
    finally:
        if pinger is not None:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
        notify(f"STOPPING=1\nSTATUS={status_text('draining requests')}")
        log.info("api stopping")
        await runner.cleanup()


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
