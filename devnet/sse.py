"""Server-sent events exactly as Horizon frames them (render/sse), and the stream loop.

The loop follows Horizon's ServeStream: query, send up to `limit` records, say byebye when the
limit is reached, otherwise make sure `hello` went out and wait for the next ledger close (or the
connection timeout, which also ends in byebye). Errors before the first byte are ordinary problem
responses; after it they are `event: error` with plain text, then the connection ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from . import gojson
from .endpoints import Collection
from .history import SortKey
from .params import PageParams
from .problems import Problem

log = logging.getLogger(__name__)

HELLO = b'retry: 1000\nevent: open\ndata: "hello"\n\n'
BYEBYE = b'retry: 10\nevent: close\ndata: "byebye"\n\n'
UNEXPECTED = "Unexpected stream error"

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "Access-Control-Allow-Origin": "*",
}


def record_frame(paging_token: str, record: dict[str, Any]) -> bytes:
    return f"id: {paging_token}\ndata: {gojson.compact(record)}\n\n".encode()


def error_frame(text: str) -> bytes:
    return f"event: error\ndata: {text}\n\n".encode()


def wants_stream(request: web.Request) -> bool:
    """Horizon's content negotiation: an Accept header asking for text/event-stream."""
    return "text/event-stream" in request.headers.get("Accept", "")


class SSEWriter:
    """Writes frames, sending the preamble (headers + hello) lazily like Horizon's Stream.Init."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        self.started = False
        self.records_sent = 0

    async def init(self) -> None:
        if not self.started:
            self.started = True
            await self.response.prepare(self.request)
            await self.response.write(HELLO)

    async def write(self, data: bytes) -> None:
        await self.init()
        await self.response.write(data)

    async def record(self, paging_token: str, record: dict[str, Any]) -> None:
        await self.write(record_frame(paging_token, record))
        self.records_sent += 1

    async def bye(self) -> None:
        await self.write(BYEBYE)

    async def error(self, text: str) -> None:
        await self.write(error_frame(text))


def parse_token(token: str) -> SortKey:
    first, _, second = token.partition("-")
    return (int(first), int(second) if second else 0)


@dataclass
class StreamContext:
    """What the loop needs from the app: how to wait for ledgers, and the per-iteration gate."""

    base: str
    connection_timeout: float
    change_marker: Callable[[], asyncio.Event]  # taken before each query so no close is missed
    wait_for_change: Callable[[asyncio.Event, float], Awaitable[bool]]  # False on timeout or shutdown
    wait_stopped: Callable[[], Awaitable[None]]  # returns when the server shuts down
    # Run before each iteration's query (Horizon's per-iteration rate limit); may raise a Problem.
    gate: Callable[[], None] | None = None


class StreamLoop:
    """One stream connection. Subclassed by the fault layer to tamper with what goes on the wire."""

    def __init__(
        self, request: web.Request, collection: Collection, params: PageParams, ctx: StreamContext
    ) -> None:
        self.request = request
        self.collection = collection
        self.params = params
        self.ctx = ctx
        self.writer = SSEWriter(request)

    async def send_record(self, token: str, record: dict[str, Any]) -> None:
        await self.writer.record(token, record)

    async def run(self) -> web.StreamResponse:
        try:
            return await self._run()
        except ConnectionResetError:
            return self.writer.response

    async def _fail(self, problem: Problem | None) -> web.StreamResponse:
        if not self.writer.started:
            raise problem if problem is not None else Problem("server_error", "Internal Server Error", 500)
        await self.writer.error(problem.stream_text() if problem is not None else UNEXPECTED)
        return self.writer.response

    async def _run(self) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ctx.connection_timeout
        remaining = self.params.limit
        cursor = self.params.cursor
        while True:
            marker = self.ctx.change_marker()
            try:
                if self.ctx.gate is not None:
                    self.ctx.gate()
                if self.collection.precheck is not None:
                    self.collection.precheck()
                records = self.collection.fetch(replace(self.params, cursor=cursor), self.ctx.base)
            except Problem as problem:
                return await self._fail(problem)
            except Exception:
                log.exception("stream query failed")
                return await self._fail(None)
            if records:
                cursor = parse_token(records[-1][0])
            for token, record in records:
                if remaining <= 0:
                    break
                await self.send_record(token, record)
                remaining -= 1
            if remaining <= 0:
                await self.writer.bye()
                return self.writer.response
            await self.writer.init()
            timeout = deadline - loop.time()
            if timeout <= 0 or not await self.ctx.wait_for_change(marker, timeout):
                await self.writer.bye()
                return self.writer.response
