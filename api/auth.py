"""Bearer API keys with scopes. Keys are looked up by id and compared by digest in constant time."""

from __future__ import annotations

from aiohttp import web

from api.keys import DATABASE
from api.problems import Problem
from shared.apikeys import allows, key_matches, split_key
from shared.store import apikeys as key_store

AUTH_KEY = web.RequestKey("api_key_id", str)


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        detail,
        type_="urn:paywatch:problem:unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="paywatch"'},
    )


async def authenticate(request: web.Request, scope: str | None) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _unauthorized("send an API key as `Authorization: Bearer <key>`")
    presented = presented.strip()
    key_id = split_key(presented)
    row = None
    if key_id is not None:
        async with request.app[DATABASE].read() as conn:
            row = await key_store.get_key(conn, key_id)
    if not key_matches(presented, row.key_hash if row is not None else None) or row is None:
        raise _unauthorized("unknown API key")
    if row.revoked_at is not None:
        raise _unauthorized("this API key was revoked")
    if scope is not None and not allows(row.scope_set, scope):
        raise Problem(403, f"this API key lacks the scope {scope!r}", type_="urn:paywatch:problem:forbidden")
    request[AUTH_KEY] = row.id
