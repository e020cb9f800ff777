"""A stream loop that misbehaves on purpose, as configured by a `Fault` (see devnet.faults)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import gojson
from .endpoints import Collection
from .faults import Fault
from .params import PageParams
from .sse import StreamContext, StreamLoop, record_frame

GARBAGE_BYTES = b"\xff\xfe\x00\x80garbage\xc3\x28\n\n"
MALFORMED_LINE = b"this line is not a server-sent event field\n\n"
INVALID_JSON = b'data: {"_links":{"self":{"href":\n\n'


class FaultyStreamLoop(StreamLoop):
    def __init__(
        self,
        request: web.Request,
        collection: Collection,
        params: PageParams,
        ctx: StreamContext,
        fault: Fault,
    ) -> None:
        super().__init__(request, collection, params, ctx)
        self.fault = fault
        self._previous: bytes | None = None
        self._garbage_done = False

    async def run(self) -> web.StreamResponse:
        kind = self.fault.kind
        early_drop = kind == "drop" and self.fault.after_events == 0
        if kind != "stall" and not early_drop:
            return await super().run()
        if self.ctx.gate is not None:
            self.ctx.gate()  # the first iteration still happens (and costs a request) before hello
        await self.writer.init()
        if early_drop:
            self._abort()
        else:
            await self.ctx.wait_stopped()  # silence until the client leaves or the server stops
        return self.writer.response

    def _abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()  # RST-style close: no byebye, no chunked-encoding terminator

    async def send_record(self, token: str, record: dict[str, Any]) -> None:
        fault = self.fault
        acting = self.writer.records_sent >= fault.after_events
        if fault.kind == "drop" and acting:
            self._abort()
            raise ConnectionResetError("devnet fault: stream dropped")
        frame = record_frame(token, record)
        if fault.kind == "garbage" and acting and not self._garbage_done:
            self._garbage_done = True
            if fault.garbage == "missing_field":
                damaged = {k: v for k, v in record.items() if k != fault.missing_field}
                frame = f"id: {token}\ndata: {gojson.compact(damaged)}\n\n".encode()
            else:
                await self.writer.write(
                    {"bytes": GARBAGE_BYTES, "malformed_line": MALFORMED_LINE, "invalid_json": INVALID_JSON}[
                        fault.garbage
                    ]
                )
        if fault.kind == "repeat" and acting and fault.repeat == "previous" and self._previous is not None:
            await self.writer.write(self._previous)
        await self.writer.write(frame)
        if fault.kind == "repeat" and acting and fault.repeat == "duplicate":
            await self.writer.write(frame)
        self.writer.records_sent += 1
        self._previous = frame
