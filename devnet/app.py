"""The Horizon-compatible HTTP application (aiohttp) in front of a DevNet."""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web

from . import controls
from .guard import guard_middleware
from .handlers import (
    COLLECTIONS,
    account,
    collection_handler,
    friendbot,
    ledger,
    operation,
    root,
    submit_transaction,
    transaction,
)
from .network import DevNet
from .problems import Problem, not_found, server_error
from .webctx import NET, SETTINGS, STOPPING, STREAMABLE_PREFIX, Handler, Settings

log = logging.getLogger(__name__)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response()
    except web.HTTPNotFound:
        return not_found().response()
    except web.HTTPMethodNotAllowed:
        return Problem(
            "method_not_allowed", "Method Not Allowed", 405, "This resource does not support that method."
        ).response()
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return server_error().response()


def create_app(
    net: DevNet, *, connection_timeout: float = 55.0, submission_timeout: float = 30.0
) -> web.Application:
    """A Horizon-compatible aiohttp application serving `net` (the ledger timer is not started here)."""
    app = web.Application(middlewares=[problem_middleware, guard_middleware])
    app[NET] = net
    app[SETTINGS] = Settings(connection_timeout=connection_timeout, submission_timeout=submission_timeout)
    app[STOPPING] = asyncio.Event()

    async def on_shutdown(app: web.Application) -> None:
        app[STOPPING].set()  # lets open streams end promptly instead of waiting for the timeout

    async def drop_server_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.popall("Server", None)  # Horizon (Go net/http) sends none

    app.on_shutdown.append(on_shutdown)
    app.on_response_prepare.append(drop_server_header)
    r = app.router
    r.add_get("/", root)
    r.add_get("/accounts/{account_id}", account)
    r.add_get("/ledgers/{ledger_id}", ledger)
    r.add_post("/transactions", submit_transaction)
    r.add_get("/transactions/{tx_id}", transaction)
    r.add_get("/operations/{op_id}", operation)
    r.add_get("/friendbot", friendbot)
    r.add_post("/friendbot", friendbot)
    for path, function, key in COLLECTIONS:
        # Named so the guard middleware can tell streamable routes apart.
        name = STREAMABLE_PREFIX + ".".join(re.findall(r"[a-z_]+", path))
        r.add_get(path, collection_handler(function, key), name=name)
    controls.add_routes(app)
    return app
