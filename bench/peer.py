"""The watcher's counterparts in a separate process: a paced Horizon stream and a webhook receiver.

Running them outside the watcher's process keeps their work off its event loop, as on a real host.
Times are `time.monotonic()` (CLOCK_MONOTONIC is system-wide on Linux, so comparable across the two
processes): when each record's frame was written, and when each webhook arrived.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import web

from bench.stream_server import BYEBYE, HELLO


@dataclass
class Pacing:
    """Release record i at start + i / rate (a steady rate; the backlog is sent at once)."""

    frames: list[tuple[int, bytes]]
    rate: float
    start: float = 0.0
    sent: dict[int, float] = field(default_factory=dict)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def due(self, index: int) -> float:
        return self.start + index / self.rate


class Peer:
    def __init__(self, pacing: Pacing, closed_at: str) -> None:
        self.pacing = pacing
        self.closed_at = closed_at
        self.tokens = [token for token, _ in pacing.frames]
        self.received: dict[str, float] = {}  # order_id of the confirmed payment → arrival
        self.webhooks = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.root)
        app.router.add_get("/payments", self.stream)
        app.router.add_get("/ledgers/{seq}", self.ledger)
        app.router.add_post("/hook", self.hook)
        return app

    async def root(self, request: web.Request) -> web.Response:
        latest = (self.tokens[-1] >> 32) if self.tokens else 1
        return web.json_response(
            {
                "history_latest_ledger": latest,
                "history_latest_ledger_closed_at": self.closed_at,
                "history_elder_ledger": 1,
            }
        )

    async def ledger(self, request: web.Request) -> web.Response:
        return web.json_response({"sequence": int(request.match_info["seq"]), "closed_at": self.closed_at})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        cursor_text = request.headers.get("Last-Event-ID") or request.query.get("cursor", "0")
        cursor = int(cursor_text) if cursor_text.isdigit() else 0
        limit = min(int(request.query.get("limit", "10")), 200)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        await response.write(HELLO)
        index = next((i for i, token in enumerate(self.tokens) if token > cursor), len(self.tokens))
        pacing = self.pacing
        await pacing.released.wait()
        for _ in range(limit):
            if index >= len(pacing.frames):
                await asyncio.sleep(3600)  # everything sent: silent, like Horizon between ledgers
            delay = pacing.due(index) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            token, frame = pacing.frames[index]
            pacing.sent.setdefault(token, time.monotonic())
            await response.write(frame)
            index += 1
        await response.write(BYEBYE)
        return response

    async def hook(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body: Any = json.loads(await request.read())
        self.webhooks += 1
        if body.get("type") == "payment.confirmed":
            self.received.setdefault(body["data"]["payment"]["order_id"], arrived)
        return web.Response(status=204)


def _serve(conn: Connection, frames: list[tuple[int, bytes]], rate: float, closed_at: str) -> None:
    async def main() -> None:
        pacing = Pacing(frames, rate)
        peer = Peer(pacing, closed_at)
        runner = web.AppRunner(peer.app(), handler_cancellation=True, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(runner.addresses[0][1])
        loop = asyncio.get_running_loop()
        command = await loop.run_in_executor(None, conn.recv)
        assert command == "start", command
        pacing.start = time.monotonic()
        pacing.released.set()
        conn.send(pacing.start)
        command = await loop.run_in_executor(None, conn.recv)
        assert command == "stop", command
        conn.send({"sent": pacing.sent, "received": peer.received, "webhooks": peer.webhooks})
        await runner.cleanup()

    asyncio.run(main())


class PeerProcess:
    """Start with the frames; `start()` begins the pacing clock; `stop()` returns what was measured."""

    def __init__(self, frames: list[tuple[int, bytes]], rate: float, closed_at: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, frames, rate, closed_at), daemon=True)
        self._process.start()
        self.port: int = self._conn.recv()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        self._conn.send("start")
        started: float = self._conn.recv()
        return started

    def stop(self) -> dict[str, Any]:
        self._conn.send("stop")
        result: dict[str, Any] = self._conn.recv()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
        return result
