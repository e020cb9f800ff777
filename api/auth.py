"""Bearer API keys with scopes. Keys are looked up by id and compared by digest in constant time."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from api.keys import DATABASE
from api.problems import Problem
from shared.apikeys import allows, key_matches, split_key
from shared.store import apikeys as key_store
from shared.store.apikeys import ApiKeyRow

AUTH_KEY = web.RequestKey("api_key_id", str)

# A key's stored row is reused for this long: most requests then need no lookup, and a revoked key
# (revoked by `paywatch apikey revoke`, another process) stops working within this many seconds.
KEY_CACHE_SECONDS = 2.0


class KeyCache:
    """Stored key rows by key id, each fresh for KEY_CACHE_SECONDS. Only keys found are kept."""

    def __init__(
        self, ttl: float = KEY_CACHE_SECONDS, size: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._rows: dict[str, tuple[float, ApiKeyRow]] = {}

    def get(self, key_id: str) -> ApiKeyRow | None:
        entry = self._rows.get(key_id)
        if entry is None or self.clock() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, row: ApiKeyRow) -> None:
        if len(self._rows) >= self.size:
            self._rows.clear()  # a bound, not an eviction policy: a few real keys exist
        self._rows[row.id] = (self.clock(), row)


KEY_CACHE = web.AppKey("api_key_cache", KeyCache)


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
        cache = request.app[KEY_CACHE]
        row = cache.get(key_id)
        if row is None:
            async with request.app[DATABASE].read() as conn:
                row = await key_store.get_key(conn, key_id)
            if row is not None:
                cache.put(row)
    if not key_matches(presented, row.key_hash if row is not None else None) or row is None:
        raise _unauthorized("unknown API key")
    if row.revoked_at is not None:
        raise _unauthorized("this API key was revoked")
    if scope is not None and not allows(row.scope_set, scope):
        raise Problem(403, f"this API key lacks the scope {scope!r}", type_="urn:paywatch:problem:forbidden")
    request[AUTH_KEY] = row.id
