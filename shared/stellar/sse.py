"""A small incremental Server-Sent Events parser (WHATWG event-stream rules).

We read Horizon's streams ourselves instead of through stellar-sdk because the daemon must see
`hello` and `byebye`, resume with the last id, and tell `event: error` apart from records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAX_LINE_BYTES = 4 * 1024 * 1024  # a Horizon record is a few KiB; anything this long is garbage


class SSEError(ValueError):
    """The byte stream cannot be an event stream (e.g. an endless line)."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str  # "message" unless an `event:` field named it ("open", "close", "error", …)
    data: str
    id: str | None  # only when this event carried its own `id:` field
    retry_ms: int | None = None


class SSEParser:
    """Feed bytes with `feed()`, iterate the complete events it returns."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pos = 0  # start of the unread part of _buffer
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._pending_cr = False

    def feed(self, chunk: bytes) -> Iterator[SSEEvent]:
        if self._pos:
            del self._buffer[: self._pos]  # compact once per chunk, not once per line
            self._pos = 0
        self._buffer += chunk
        while True:
            line = self._next_line()
            if line is None:
                if len(self._buffer) - self._pos > MAX_LINE_BYTES:
                    raise SSEError("line longer than the limit")
                return
            event = self._process(line)
            if event is not None:
                yield event

    def _next_line(self) -> str | None:
        buffer, pos = self._buffer, self._pos
        if self._pending_cr and pos < len(buffer):
            self._pending_cr = False
            if buffer[pos] == 0x0A:  # the LF of a CRLF split across chunks
                pos += 1
                self._pos = pos
        lf = buffer.find(b"\n", pos)
        cr = buffer.find(b"\r", pos, lf if lf >= 0 else len(buffer))
        if cr >= 0:
            end = cr
            if cr + 1 < len(buffer):
                skip = 2 if buffer[cr + 1] == 0x0A else 1
            else:
                skip, self._pending_cr = 1, True
        elif lf >= 0:
            end, skip = lf, 1
        else:
            return None
        self._pos = end + skip
        return buffer[pos:end].decode("utf-8", errors="replace")

    def _process(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self._id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        event = SSEEvent(self._event or "message", "\n".join(self._data), self._id, self._retry)
        had_data = bool(self._data)
        self._event, self._data, self._id, self._retry = "", [], None, None
        return event if had_data else None
