"""The watcher's own small HTTP listener: `/metrics` (Prometheus) and `/healthz` (the watchdog view).

It runs on the watcher's event loop on purpose: if the loop wedges, scrapes fail and `up == 0`
alerts, instead of a side thread serving numbers that no longer move.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from shared.metrics import REGISTRY
from watcher.health import Assessment


class MetricsServer:
    def __init__(self, host: str, port: int, assess: Callable[[], tuple[bool, Assessment]]) -> None:
        self.host = host
        self.port = port
        self.assess = assess  # → (ready, assessment)
        self._runner: web.AppRunner | None = None
        self._prometheus = make_aiohttp_handler(REGISTRY)
        self.url = ""

    async def start(self) -> str:
        """Listen; returns the base URL (the real port when configured as 0). Raises OSError."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        self.assess()  # stream, lag and queue gauges as of this scrape, not of the last tick
        return await self._prometheus(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        ready, assessment = self.assess()
        if not ready:
            return web.json_response({"status": "starting"}, status=503)
        if not assessment.ok:
            return web.json_response(
                {"status": "unhealthy", "problems": list(assessment.problems)}, status=503
            )
        return web.json_response({"status": "ok"})
