"""Webhook test support: a real aiohttp receiver on loopback, an independent signature check, and a
dispatcher running in the test's event loop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from shared.apply import Details, context_from_settings, emit
from shared.config import Settings, WebhookDeliverySettings, WebhookSettings
from shared.store import webhooks as webhook_store
from shared.store.engine import Database
from shared.store.webhooks import AttemptRow, DeliveryRow
from watcher.webhook_dispatcher import WebhookDispatcher

SECRET = "whsec_" + base64.b64encode(b"paywatch test secret, 32 bytes!!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the previous secret, rotated out").decode()
HANG = "hang"  # a scripted answer: never answer (until the receiver stops)
# Fast delivery settings for tests: the schedule is in tenths of a second.
FAST = {
    "timeout_seconds": 5,
    "retry_schedule_seconds": [0.2, 0.4, 0.8],
    "retry_jitter": 0.25,
    "poll_interval_seconds": 0.02,
}

Answer = int | tuple[int, dict[str, str]] | str


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """POST /{name}: records every request, then answers as scripted for that name (default 200).

    A script is a list of answers for the 1st, 2nd, … request to the name (the last one repeats), or a
    function of the request. An answer is a status, (status, headers), or HANG.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, Sequence[Answer] | Callable[[Received], Answer]] = {}
        self._changed = asyncio.Condition()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def script(self, name: str, answers: Sequence[Answer] | Callable[[Received], Answer]) -> None:
        self.scripts[name] = answers

    def to(self, name: str) -> list[Received]:
        return [r for r in self.requests if r.path == f"/{name}"]

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(
        self, check: Callable[[list[Received]], bool], *, within: float = 20, what: str = ""
    ) -> list[Received]:
        """Until `check(requests)` holds (woken by each request, never by polling)."""
        async with self._changed:
            try:
                async with asyncio.timeout(within):
                    await self._changed.wait_for(lambda: check(self.requests))
            except TimeoutError:
                raise AssertionError(
                    f"receiver: timed out after {within} s waiting for {what or check}"
                ) from None
        return list(self.requests)

    async def wait_count(self, name: str, count: int, *, within: float = 20) -> list[Received]:
        await self.wait_for(lambda _: len(self.to(name)) >= count, within=within, what=f"{count} to /{name}")
        return self.to(name)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(
            request.path,
            {name.lower(): value for name, value in request.headers.items()},
            await request.read(),
            time.monotonic(),
        )
        name = request.match_info["name"]
        earlier = len(self.to(name))
        async with self._changed:
            self.requests.append(received)
            self._changed.notify_all()
        script = self.scripts.get(name, [200])
        answer = script(received) if callable(script) else script[min(earlier, len(script) - 1)]
        if answer == HANG:
            await self._release.wait()
            return web.Response(status=503)
        status, headers = answer if isinstance(answer, tuple) else (int(answer), {})
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else "no")


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def closed_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def independent_signatures(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check written from the spec, not with shared/signatures.py."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, sig) for sig in headers["webhook-signature"].split(" "))


def endpoint(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "secret": SECRET, **extra}


def with_webhooks(
    settings: Settings, endpoints: Sequence[dict[str, Any]], delivery: dict[str, Any] | None = None
) -> Settings:
    """`settings` with these [[webhooks]] endpoints and [webhook_delivery] values (FAST by default)."""
    return settings.model_copy(
        update={
            "webhooks": [WebhookSettings(**e) for e in endpoints],
            "webhook_delivery": WebhookDeliverySettings(**(FAST if delivery is None else delivery)),
        }
    )


@asynccontextmanager
async def dispatching(db: Database, settings: Settings, **options: Any) -> AsyncIterator[WebhookDispatcher]:
    """A dispatcher as the watcher runs it: endpoints synced first, then delivering until the block ends."""
    dispatcher = WebhookDispatcher(db, settings, **options)
    await dispatcher.prepare()
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def emit_events(
    db: Database, settings: Settings, count: int, *, per_transaction: int = 500
) -> list[int]:
    """`count` receipt.unmatched events through the apply path (each with its outbox rows)."""
    ctx = context_from_settings(settings)
    ids: list[int] = []
    while len(ids) < count:
        async with db.write() as conn:
            for _ in range(min(per_transaction, count - len(ids))):
                ids.append(
                    await emit(
                        conn, "receipt.unmatched", payment=None, details=Details(), receipt=None, ctx=ctx
                    )
                )
    return ids


async def deliveries(db: Database, **filters: Any) -> list[DeliveryRow]:
    async with db.read() as conn:
        return await webhook_store.list_deliveries(conn, limit=100_000, **filters)


async def attempts_of(db: Database, delivery_id: int) -> list[AttemptRow]:
    async with db.read() as conn:
        return (await webhook_store.attempts_for(conn, [delivery_id]))[delivery_id]


async def endpoint_ids(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return {row.name: row.id for row in await webhook_store.list_endpoints(conn)}
