"""Serves pre-rendered Horizon SSE streams as fast as the client reads them.

Horizon's framing and limits: `hello` first, `id:`/`data:` records strictly after the cursor
(`Last-Event-ID` wins over `?cursor=`), at most `limit` (≤ 200) records per connection, then
`byebye` and close. When nothing is left the connection stays open and silent (like Horizon
waiting for the next ledger) until the client goes away.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

HELLO = b'retry: 1000\nevent: open\ndata: "hello"\n\n'
BYEBYE = b'retry: 10\nevent: close\ndata: "byebye"\n\n'


class StreamServer:
    def __init__(
        self, streams: dict[str, list[tuple[int, bytes]]], *, latest_ledger: int, closed_at: str
    ) -> None:
        self.streams = {
            path: (sorted(frames), [token for token, _ in sorted(frames)]) for path, frames in streams.items()
        }
        self.latest_ledger = latest_ledger
        self.closed_at = closed_at
        self.connections = 0
        self.sent: dict[int, float] = {}  # token → time.monotonic() when its frame was written (latency)
        self.record_sent_times = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.root)
        app.router.add_get("/payments", self.stream)
        app.router.add_get("/accounts/{account}/payments", self.stream)
        app.router.add_get("/ledgers/{seq}", self.ledger)
        return app

    async def root(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "history_latest_ledger": self.latest_ledger,
                "history_latest_ledger_closed_at": self.closed_at,
                "history_elder_ledger": 1,
            }
        )

    async def ledger(self, request: web.Request) -> web.Response:
        return web.json_response({"sequence": int(request.match_info["seq"]), "closed_at": self.closed_at})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        frames, tokens = self.streams.get(request.path, ([], []))
        cursor_text = request.headers.get("Last-Event-ID") or request.query.get("cursor", "0")
        cursor = int(cursor_text) if cursor_text.isdigit() else 0
        limit = min(int(request.query.get("limit", "10")), 200)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        self.connections += 1
        await response.write(HELLO)
        start = bisect.bisect_right(tokens, cursor)
        batch = frames[start : start + limit]
        if batch:
            if self.record_sent_times:
                for token, frame in batch:
                    self.sent[token] = time.monotonic()
                    await response.write(frame)
            else:
                await response.write(b"".join(frame for _, frame in batch))
            if len(batch) == limit:
                await response.write(BYEBYE)
                return response
        await asyncio.sleep(3600)  # caught up: silent until the client leaves (the handler is cancelled)
        return response


@asynccontextmanager
async def serving(server: StreamServer) -> AsyncIterator[str]:
    runner = web.AppRunner(server.app(), handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def streams_for(corpus: Any, mode: str) -> dict[str, list[tuple[int, bytes]]]:
    if mode == "network":
        return {"/payments": corpus.sse()}
    return {f"/accounts/{d}/payments": corpus.sse(d) for d in corpus.destinations}
