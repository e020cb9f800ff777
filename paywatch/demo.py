"""`paywatch demo`: one payment from start to finish, offline, told as a story.

Everything runs in this process on loopback, with temporary files only: a devnet (a local
Horizon-compatible network), the watcher, the API and a webhook receiver. The shop creates a payment
through the API, a buyer pays it with a real signed transaction, the watcher sees it on its stream
and confirms it, and the event arrives in the feed (and as a signed webhook).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp
from aiohttp import web
from stellar_sdk import IdMemo, Keypair

from api.app import create_app
from devnet import DevNet, DevnetClient, serve
from paywatch.keys import create_key
from shared.config import Settings
from shared.logging import configure
from shared.signatures import SignatureError, verify
from shared.store.engine import Database
from shared.store.migrate import upgrade
from watcher.daemon import Watcher

T = TypeVar("T")
LEDGER_INTERVAL = 0.25  # seconds; the real network closes a ledger every ~5 s
AMOUNT = "25"
ORDER_ID = "demo-1"
STEPS = 8


class DemoFailed(Exception):
    """A step did not happen in time; the message says which."""


@dataclass
class Story:
    out: IO[str]
    step_no: int = 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, title: str, text: str) -> None:
        self.step_no += 1
        self.say(f"[{self.step_no}/{STEPS}] {title:<9} {text}")


@dataclass
class WebhookReceiver:
    """The shop's webhook endpoint: checks each delivery's Standard Webhooks signature."""

    secret: str
    received: asyncio.Queue[tuple[str, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    rejected: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            message_id = verify([self.secret], request.headers, body, now=time.time())
            payload = json.loads(body)
        except (SignatureError, ValueError) as exc:
            self.rejected.append(str(exc))
            return web.Response(status=401)
        await self.received.put((message_id, payload if isinstance(payload, dict) else {}))
        return web.Response(status=204)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[WebhookReceiver]:
        app = web.Application()
        app.router.add_post("/hooks", self.handle)
        async with _listening(app) as base:
            self.url = base + "/hooks"
            yield self


@contextlib.asynccontextmanager
async def _listening(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _running_watcher(watcher: Watcher) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    ready = asyncio.create_task(watcher.ready.wait())
    try:
        done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what stopped it
        yield
    finally:
        ready.cancel()
        stop.set()
        await task


async def _within(seconds: float, what: str, awaitable: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise DemoFailed(f"{what}: nothing after {seconds:.0f} s") from None


async def _until(check: Callable[[], Awaitable[T | None]]) -> T:
    """Poll an HTTP read until it returns something (the API has no push channel of its own)."""
    while True:
        result = await check()
        if result is not None:
            return result
        await asyncio.sleep(0.05)


def _short(account: str) -> str:
    return f"{account[:5]}…{account[-4:]}"


def _settings(
    horizon_url: str, passphrase: str, db_url: str, merchant: str, hook: WebhookReceiver
) -> Settings:
    return Settings(
        network={"name": "custom", "passphrase": passphrase, "horizon_urls": [horizon_url]},
        database={"url": db_url},
        accounts=[{"address": merchant, "default": True}],
        assets={"XLM": {"native": True}},
        watcher={
            "poll_interval_seconds": 0.05,
            "heartbeat_seconds": 0.5,
            "backfill_margin_seconds": 0,
            "expiry_check_seconds": 1,
            "metrics_port": 0,  # a free port: never collides with a watcher already running here
        },
        api={"host": "127.0.0.1", "port": 0},
        webhooks=[{"url": hook.url, "secret": hook.secret, "events": ["payment.*"]}],
    )


async def _story(story: Story, workdir: Path, step_seconds: float) -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    net = DevNet(ledger_interval=LEDGER_INTERVAL)
    async with (
        serve(net) as horizon_url,
        DevnetClient(horizon_url, net.passphrase) as client,
        WebhookReceiver(secret).running() as receiver,
    ):
        story.step(
            "network",
            f"a local Horizon-compatible network at {horizon_url}, ledgers every {LEDGER_INTERVAL} s",
        )
        merchant, buyer = Keypair.random(), Keypair.random()
        await _within(
            step_seconds,
            "funding the accounts",
            asyncio.gather(client.friendbot(merchant.public_key), client.friendbot(buyer.public_key)),
        )
        story.step(
            "accounts",
            f"merchant {_short(merchant.public_key)} and buyer {_short(buyer.public_key)}, "
            "10,000 XLM each from friendbot",
        )
        db_url = f"sqlite:///{workdir / 'paywatch.db'}"
        await asyncio.to_thread(upgrade, db_url)
        settings = _settings(horizon_url, net.passphrase, db_url, merchant.public_key, receiver)
        db = Database.open(db_url)
        try:
            key = await create_key(db, "demo", ("admin",))
            watcher = Watcher(settings, db)
            async with (
                _running_watcher(watcher),
                _listening(create_app(settings, db)) as api_url,
                aiohttp.ClientSession(api_url, headers={"Authorization": f"Bearer {key}"}) as http,
            ):
                story.step(
                    "paywatch",
                    f"watcher streaming the merchant's payments (metrics {watcher.health.metrics_url}); "
                    f"API at {api_url}; webhook receiver at {receiver.url}",
                )
                await _pay_and_follow(story, client, http, buyer, receiver, step_seconds)
        finally:
            await db.close()


async def _pay_and_follow(
    story: Story,
    client: DevnetClient,
    http: aiohttp.ClientSession,
    buyer: Keypair,
    receiver: WebhookReceiver,
    step_seconds: float,
) -> None:
    body = {"order_id": ORDER_ID, "amount": AMOUNT, "currency": "XLM"}
    async with http.post("/payments/initiate", json=body) as response:
        created = await response.json()
        if response.status != 201:
            raise DemoFailed(f"POST /payments/initiate answered {response.status}: {created}")
    story.step(
        "order",
        f"POST /payments/initiate {json.dumps(body)} → 201 {created['id']} ({created['status']}): "
        f"pay {created['amount']} XLM to {_short(created['destination'])} with memo {created['memo']}",
    )

    paid = await _within(
        step_seconds,
        "the buyer's payment",
        client.pay(buyer, created["destination"], AMOUNT, memo=IdMemo(int(created["memo"]))),
    )
    if not paid.successful:
        raise DemoFailed(f"the payment transaction failed: {paid.result_codes}")
    story.step(
        "buyer",
        f"signs a payment of {AMOUNT} XLM with MEMO_ID {created['memo']}; "
        f"transaction {paid.hash[:12]}… is in ledger {paid.ledger}",
    )

    async def confirmed() -> dict[str, Any] | None:
        async with http.get(f"/payments/{created['id']}") as response:
            shown: dict[str, Any] = await response.json()
        return shown if shown["status"] == "confirmed" else None

    payment = await _within(step_seconds, "the confirmation", _until(confirmed))
    receipt = payment["receipts"][0]
    latency = _seconds_between(receipt["closed_at"], payment["confirmed_at"])
    story.step(
        "watcher",
        f"saw operation {receipt['operation_id']} on its stream: receipt {receipt['disposition']}, "
        f"{payment['id']} {payment['status']} ({latency:.1f} s after the ledger closed)",
    )

    async with http.get("/events", params={"limit": "100"}) as response:
        events = [e for e in (await response.json())["events"] if e["payment_id"] == payment["id"]]
    story.step("events", "GET /events: " + " → ".join(f"{e['type']} (#{e['id']})" for e in events))
    if [e["type"] for e in events][-1:] != ["payment.confirmed"]:
        raise DemoFailed(f"the event feed does not end with payment.confirmed: {events}")

    message_id, delivered = await _within(
        step_seconds, "the payment.confirmed webhook", _next_confirmed(receiver.received)
    )
    story.step(
        "webhook",
        f"POST {receiver.url} received {delivered.get('type')} (webhook-id {message_id}), "
        "Standard Webhooks signature verified",
    )


async def _next_confirmed(queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    while True:
        message_id, payload = await queue.get()
        if payload.get("type") == "payment.confirmed":
            return message_id, payload


def _seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def run_demo(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    story = Story(out or sys.stdout)
    story.say(
        "paywatch demo: one payment from start to finish on a local network (nothing leaves this machine)"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="paywatch-demo-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "paywatch.log"
        with log_path.open("w") as log_file:
            configure("info", "json", stream=log_file)  # the story on stdout, the daemons' logs here
            try:
                asyncio.run(_story(story, workdir, args.timeout))
            except DemoFailed as exc:
                story.say(f"demo failed: {exc}")
                story.say("last log lines:\n" + "\n".join(log_path.read_text().splitlines()[-15:]))
                return 1
    story.say(f"done: order {ORDER_ID} paid and confirmed, in {time.monotonic() - started:.1f} s")
    return 0
