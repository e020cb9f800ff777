"""Running the devnet's HTTP server on a local port (tests, the demo, `paywatch devnet`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from .app import create_app
from .network import DevNet


@contextlib.asynccontextmanager
async def serve(
    net: DevNet, host: str = "127.0.0.1", port: int = 0, *, ledger_timer: bool = True, **options: Any
) -> AsyncIterator[str]:
    """Serve `net` and run its ledger timer; yields the base URL (e.g. `http://127.0.0.1:41234`).

    `options` go to `create_app` (connection_timeout, submission_timeout, ...). With
    `ledger_timer=False` ledgers close only on `net.close_ledger()`. Everything started here is
    stopped on exit; a ledger timer that was already running is left running.
    """
    app = create_app(net, **options)
    # handler_cancellation ends handlers whose client went away (e.g. a stalled stream).
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=5.0, access_log=None)
    await runner.setup()
    started_timer = False
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        if ledger_timer and not net.running:
            await net.start()
            started_timer = True
        yield f"http://{host}:{bound_port}"
    finally:
        await runner.cleanup()
        if started_timer:
            await net.stop()
