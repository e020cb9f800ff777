"""`Idempotency-Key` on POST (per API key): the first response is stored for 24 h and replayed for
the same key and body; the same key with a different body is 422; a concurrent duplicate is 409.

A request that ended in a server error, or whose process died mid-way (an `in_flight` record older
than STALE_AFTER), leaves nothing behind, so the client's retry runs again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from api.auth import AUTH_KEY
from api.keys import DATABASE
from api.middleware import REQUEST_ID
from api.problems import Problem
from shared.clock import utcnow
from shared.store import idempotency as store

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=5)
_KEY = re.compile(r"[\x21-\x7e]{1,255}", re.ASCII)


def _conflict() -> Problem:
    return Problem(
        409,
        "a request with this Idempotency-Key is still being processed",
        type_="urn:paywatch:problem:conflict",
    )


async def idempotent(
    request: web.Request, run: Callable[[], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    key = request.headers[HEADER]
    if not _KEY.fullmatch(key):
        raise Problem(
            400,
            "Idempotency-Key must be 1-255 visible ASCII characters",
            type_="urn:paywatch:problem:idempotency",
        )
    api_key_id = request[AUTH_KEY]
    body = await request.read()
    fingerprint = hashlib.sha256(f"{request.method} {request.path_qs}\n".encode() + body).hexdigest()
    db = request.app[DATABASE]
    now = utcnow()
    try:
        async with db.write() as conn:
            record = await store.get_record(conn, api_key_id, key)
            expired = record is not None and (
                record.expires_at < now
                or (record.state == "in_flight" and record.created_at < now - STALE_AFTER)
            )
            if record is not None and expired:
                await store.forget(conn, api_key_id, key)
                record = None
            if record is None:
                await store.start(
                    conn,
                    api_key_id=api_key_id,
                    key=key,
                    fingerprint=fingerprint,
                    now=now,
                    expires_at=now + RETENTION,
                )
    except IntegrityError:
        raise _conflict() from None
    if record is not None:
        if record.fingerprint != fingerprint:
            raise Problem(
                422,
                "this Idempotency-Key was used with a different request",
                type_="urn:paywatch:problem:idempotency",
            )
        if record.state != "done" or record.status is None:
            raise _conflict()
        replay = web.Response(status=record.status, text=record.body or "", content_type=record.content_type)
        replay.headers["Idempotent-Replayed"] = "true"
        return replay

    try:
        response = await run()
    except Problem as problem:
        response = problem.response(request.get(REQUEST_ID))
    except BaseException:
        async with db.write() as conn:
            await store.forget(conn, api_key_id, key)
        raise
    async with db.write() as conn:
        if response.status >= 500 or not isinstance(response, web.Response):
            await store.forget(conn, api_key_id, key)
        else:
            await store.finish(
                conn,
                api_key_id=api_key_id,
                key=key,
                status=response.status,
                content_type=response.content_type,
                body=response.text or "",
            )
    return response
