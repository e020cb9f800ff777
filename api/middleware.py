"""Middlewares, outermost first: request id → problem+json errors."""

from __future__ import annotations

import re
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from api.problems import Problem

log = structlog.get_logger("paywatch.api")
REQUEST_ID = web.RequestKey("request_id", str)
_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
_DETAILS = {
    404: "no such resource",
    405: "method not allowed on this resource",
    413: "the request body is larger than 64 KiB",
}


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Honour a sane `X-Request-ID` or make one; bind it to every log line of the request."""
    presented = request.headers.get("X-Request-ID", "")
    request_id = presented if _REQUEST_ID_OK.fullmatch(presented) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await handler(request)
    response.headers["X-Request-ID"] = request_id
    return response


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes an RFC 9457 problem; unexpected ones are logged and answered with a bare 500."""
    request_id = request.get(REQUEST_ID)
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response(request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = _DETAILS.get(exc.status, exc.reason)
        response = Problem(exc.status, detail).response(request_id)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error", path=request.path, method=request.method)
        return Problem(500, "internal error; see the server log for this request id").response(request_id)
