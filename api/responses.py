"""JSON responses, serialised with the hot path's encoder (shared/jsontext.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shared import jsontext


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=jsontext.dumps)
