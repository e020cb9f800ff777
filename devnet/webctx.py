"""What the HTTP modules share: the app keys, settings and Horizon's response conventions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import gojson
from .network import DevNet

HAL_CONTENT_TYPE = "application/hal+json; charset=utf-8"


@dataclass
class Settings:
    connection_timeout: float = 55.0
    submission_timeout: float = 30.0


NET = web.AppKey("devnet", DevNet)
SETTINGS = web.AppKey("devnet_settings", Settings)
STOPPING = web.AppKey("devnet_stopping", asyncio.Event)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Collection routes are named with this prefix so middleware can tell streamable routes apart.
STREAMABLE_PREFIX = "stream:"


def base_url(request: web.Request) -> str:
    """The request's origin, which Horizon uses for every `_links` href."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme)
    host = request.headers.get("X-Forwarded-Host", request.host)
    return f"{scheme}://{host}"


def hal_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=gojson.indented(body).encode(), headers={"Content-Type": HAL_CONTENT_TYPE}
    )


def client_ip(request: web.Request) -> str:
    """The key of Horizon's per-IP budget (the peer address)."""
    return request.remote or "unknown"
