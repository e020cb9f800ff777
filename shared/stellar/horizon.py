"""A Horizon client on aiohttp: REST calls with typed errors, and SSE streams we control.

Failover: `horizon_urls` are tried in order; after `failover_after` consecutive failures the client
moves to the next server. Every request is counted (the request budget is per client IP).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from shared.stellar.sse import SSEEvent, SSEParser

STREAM_CONTENT_TYPE = "text/event-stream"


class HorizonError(Exception):
    """Any failure talking to Horizon."""


class HorizonHTTPError(HorizonError):
    def __init__(self, status: int, problem: Mapping[str, Any] | None, retry_after: float | None) -> None:
        title = (problem or {}).get("title") or f"HTTP {status}"
        super().__init__(f"Horizon answered {status}: {title}")
        self.status = status
        self.problem = problem
        self.retry_after = retry_after


class NotFound(HorizonHTTPError):
    """404: e.g. an account with no history yet, or an unknown transaction."""


class RateLimited(HorizonHTTPError):
    """429: the per-IP request budget is spent; honour `retry_after`."""


class StreamFailed(HorizonError):
    """The stream sent `event: error` or bytes that are not an event stream."""


@dataclass
class RequestCounter:
    rest: int = 0
    streams: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        return self.rest + self.streams


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


async def _raise_for(response: aiohttp.ClientResponse) -> None:
    if response.status < 400:
        return
    problem: Mapping[str, Any] | None = None
    try:
        body = await response.read()
        parsed = json.loads(body)
        problem = parsed if isinstance(parsed, dict) else None
    except (ValueError, RecursionError, aiohttp.ClientError):
        problem = None
    retry_after = _retry_after(response.headers.get("Retry-After"))
    if response.status == 404:
        raise NotFound(404, problem, retry_after)
    if response.status == 429:
        raise RateLimited(429, problem, retry_after)
    raise HorizonHTTPError(response.status, problem, retry_after)


class HorizonClient:
    def __init__(
        self,
        urls: list[str],
        session: aiohttp.ClientSession,
        *,
        request_timeout: float = 15.0,
        failover_after: int = 3,
    ) -> None:
        if not urls:
            raise ValueError("at least one Horizon URL is required")
        self.urls = [url.rstrip("/") for url in urls]
        self.session = session
        self.request_timeout = request_timeout
        self.failover_after = failover_after
        self.requests = RequestCounter()
        self._index = 0
        self._failures = 0

    @property
    def base_url(self) -> str:
        return self.urls[self._index]

    def record_success(self) -> None:
        self._failures = 0

    def record_failure(self) -> None:
        """Count a failure against the current server; move to the next one after too many."""
        self._failures += 1
        if self._failures >= self.failover_after and len(self.urls) > 1:
            self._index = (self._index + 1) % len(self.urls)
            self._failures = 0

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        self.requests.rest += 1
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        try:
            async with self.session.get(
                self.base_url + path, params=params, timeout=timeout, headers={"Accept": "application/json"}
            ) as response:
                await _raise_for(response)
                body = await response.read()
        except HorizonHTTPError as exc:
            if exc.status >= 500:
                self.record_failure()
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.record_failure()
            raise HorizonError(f"{type(exc).__name__}: {exc}") from exc
        self.record_success()
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python goes
            raise HorizonError("Horizon sent a body that is not JSON") from exc
        if not isinstance(parsed, dict):
            raise HorizonError("Horizon sent JSON that is not an object")
        return parsed

    async def root(self) -> dict[str, Any]:
        return await self.get("/")

    async def records(self, path: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """The `_embedded.records` of one HAL page."""
        page = await self.get(path, params)
        records = page.get("_embedded", {}).get("records")
        if not isinstance(records, list):
            raise HorizonError(f"{path}: page without _embedded.records")
        return [record for record in records if isinstance(record, dict)]

    async def stream(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        last_event_id: str | None,
        silence_timeout: float,
    ) -> AsyncGenerator[SSEEvent, None]:
        """Events of one SSE connection until the server closes it; silence → TimeoutError."""
        headers = {"Accept": STREAM_CONTENT_TYPE, "Cache-Control": "no-cache"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=silence_timeout)
        self.requests.streams += 1
        try:
            async with self.session.get(
                self.base_url + path, params=params, headers=headers, timeout=timeout
            ) as response:
                await _raise_for(response)
                if not response.headers.get("Content-Type", "").startswith(STREAM_CONTENT_TYPE):
                    raise StreamFailed(f"not an event stream: {response.headers.get('Content-Type')!r}")
                self.record_success()
                parser = SSEParser()
                async for chunk in response.content.iter_any():
                    for event in parser.feed(chunk):
                        yield event
        except HorizonHTTPError as exc:
            if exc.status >= 500:
                self.record_failure()
            raise
        except (TimeoutError, aiohttp.ClientError):
            self.record_failure()
            raise
