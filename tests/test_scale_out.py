"""Scale-out (issue 7): several watchers and APIs on one database, failover, connection loss.

Real processes (`paywatch watch`, `paywatch api`) against the machine's PostgreSQL, a devnet on
loopback, and payments made with real signed transactions.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from stellar_sdk import IdMemo

from shared.store import events as event_store
from shared.store import leases as lease_store
from shared.store import status as status_store
from shared.store.engine import Database
from shared.store.migrate import current_revision, head_revision
from shared.store.schema import leases as leases_table
from tests.conftest import POSTGRES_URL, Shop, _admin, _pg_url, another_database
from tests.support import (
    WatcherProcess,
    all_receipts,
    config_toml,
    eventually,
    initiate,
    receipts_of,
    running_watcher,
    wait_status,
)

# The failover, connection-loss and LISTEN/NOTIFY tests are about the PostgreSQL deployment.
POSTGRES_ONLY = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.port = free_port()
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "paywatch.cli", "api", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PAYWATCH_API__PORT": str(self.port), "PYTHONUNBUFFERED": "1"},
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


async def leader(db: Database) -> str | None:
    async with db.read() as conn:
        holder = await lease_store.holder_of(conn, status_store.LEASE_NAME)
    return holder[0] if holder else None


async def instance_of(db: Database, process: WatcherProcess) -> str | None:
    async with db.read() as conn:
        rows = await status_store.all_statuses(conn)
    pid = process.process.pid if process.process else None
    return next((row.instance for row in rows if row.pid == pid and row.state == "running"), None)


async def leader_gauge(db: Database, process: WatcherProcess) -> float:
    """`paywatch_watcher_leader` as the process's own metrics listener reports it."""
    async with db.read() as conn:
        rows = await status_store.all_statuses(conn)
    pid = process.process.pid if process.process else None
    (details,) = [json.loads(row.details or "{}") for row in rows if row.pid == pid]
    async with aiohttp.ClientSession() as http, http.get(details["metrics_url"]) as response:
        text = await response.text()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "paywatch_watcher_leader"]
    (sample,) = family.samples
    return float(sample.value)


async def gauges_say(db: Database, leading: WatcherProcess, standing: WatcherProcess) -> bool:
    return (await leader_gauge(db, leading), await leader_gauge(db, standing)) == (1.0, 0.0)


@asynccontextmanager
async def two_watchers(shop: Shop, tmp_path: Path) -> AsyncIterator[tuple[WatcherProcess, WatcherProcess]]:
    config = tmp_path / "watch.toml"
    config.write_text(config_toml(shop.settings, shop.db_url))
    first = WatcherProcess(config, tmp_path / "watcher-1.log")
    second = WatcherProcess(config, tmp_path / "watcher-2.log")
    first.start()
    second.start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


async def _both_running(shop: Shop, first: WatcherProcess, second: WatcherProcess) -> bool:
    return bool(await instance_of(shop.db, first)) and bool(await instance_of(shop.db, second))


@pytest.mark.slow
@POSTGRES_ONLY
async def test_leader_killed_standby_takes_over_nothing_lost_or_doubled(shop: Shop, tmp_path: Path) -> None:
    config = tmp_path / "api.toml"
    config.write_text(config_toml(shop.settings, shop.db_url))
    apis = [ApiProcess(config, tmp_path / f"api-{i}.log") for i in range(2)]
    payments: list[dict[str, Any]] = []
    try:
        async with two_watchers(shop, tmp_path) as (first, second), aiohttp.ClientSession() as http:
            await eventually(lambda: _both_running(shop, first, second), within=60, what="two watchers")
            for api in apis:
                await eventually(lambda api=api: _answers(http, api.url), within=60, what="the API")

            async def create(index: int) -> dict[str, Any]:
                api = apis[index % 2]  # any API instance: nothing is kept between requests
                async with http.post(
                    f"{api.url}/payments/initiate",
                    json={"order_id": f"fo-{index}", "amount": f"{index + 1}", "currency": "XLM"},
                    headers={"Authorization": f"Bearer {shop.key}"},
                ) as response:
                    assert response.status == 201, await response.text()
                    created: dict[str, Any] = await response.json()
                    return created

            async def pay_all() -> None:
                for index in range(30):
                    created = await create(index)
                    payments.append(created)
                    await shop.client.pay(shop.buyer, created["muxed_destination"], created["amount"])

            payer = asyncio.create_task(pay_all())
            await eventually(lambda: _true(len(payments) >= 10), what="payments flowing")
            holder = await leader(shop.db)
            leading, standing = (
                (first, second) if holder == await instance_of(shop.db, first) else (second, first)
            )
            assert await gauges_say(shop.db, leading, standing)  # paywatch_watcher_leader: 1 and 0
            killed_at = time.monotonic()
            leading.kill()  # SIGKILL: no release of the lease, no drain
            standby_instance = await instance_of(shop.db, standing)
            await eventually(lambda: _is(leader(shop.db), standby_instance), within=30, what="the takeover")
            takeover = time.monotonic() - killed_at
            await eventually(lambda: _gauge_is(shop.db, standing, 1.0), what="the new leader's gauge")
            await payer
            for created in payments:
                await wait_status(shop.db, created["id"], "confirmed", within=60)
    finally:
        for api in apis:
            api.stop()
    print(
        f"takeover after SIGKILL of the leader: {takeover:.2f} s (lease {shop.settings.watcher.leader_lease_seconds} s)"
    )
    assert takeover < shop.settings.watcher.leader_lease_seconds + 3
    keys = [(r.operation_id, r.part) for r in await all_receipts(shop.db)]
    assert len(keys) == len(set(keys))
    for created in payments:
        assert len(await receipts_of(shop.db, created["id"])) == 1
        async with shop.db.read() as conn:
            types = [e.type for e in await event_store.for_payment(conn, created["id"])]
        assert types == ["payment.initiated", "payment.funds_received", "payment.confirmed"]


async def _answers(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(f"{url}/healthz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _true(value: bool) -> bool:
    return value


async def _gauge_is(db: Database, process: WatcherProcess, expected: float) -> bool:
    return await leader_gauge(db, process) == expected


async def _is(awaitable: Any, expected: Any) -> bool:
    return bool(await awaitable == expected and expected is not None)


@pytest.mark.slow
@POSTGRES_ONLY
async def test_all_connections_terminated_mid_run_recovers_with_nothing_lost(
    shop: Shop, tmp_path: Path
) -> None:
    database = shop.db_url.rsplit("/", 1)[1]
    payments = []
    async with two_watchers(shop, tmp_path) as (first, second):
        await eventually(lambda: _both_running(shop, first, second), within=60, what="two watchers")
        for index in range(20):
            created = await initiate(shop.api, shop.key, order_id=f"term-{index}", amount="2", currency="XLM")
            payments.append(created)
            await shop.client.pay(
                shop.buyer, shop.merchant.public_key, "2", memo=IdMemo(int(created["memo"]))
            )
            if index in (6, 13):
                with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                    terminated = admin.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (database,),
                    ).fetchone()
                assert terminated is not None
                assert terminated[0] >= 2  # both watchers' connections (and the test's own pool)
        for created in payments:
            await wait_status(shop.db, created["id"], "confirmed", within=60)
        for process in (first, second):  # each recovered by itself
            assert process.process is not None
            assert process.process.poll() is None
    for created in payments:
        assert len(await receipts_of(shop.db, created["id"])) == 1
        async with shop.db.read() as conn:
            types = [e.type for e in await event_store.for_payment(conn, created["id"])]
        assert types == ["payment.initiated", "payment.funds_received", "payment.confirmed"]  # none doubled


async def test_a_deposed_leader_stops_writing_at_once(shop: Shop) -> None:
    """Steal the lease behind the leader's back: its very next write transaction is refused."""
    async with running_watcher(shop.settings, shop.db) as watcher:
        await eventually(lambda: _true(watcher.role == "leader" and bool(watcher.readers)), what="leading")
        async with shop.db.write() as conn:
            await conn.execute(
                update(leases_table).values(holder="someone-else", token=leases_table.c.token + 100)
            )
        created = await initiate(shop.api, shop.key, order_id="fenced", amount="1", currency="XLM")
        await shop.client.pay(shop.buyer, shop.merchant.public_key, "1", memo=IdMemo(int(created["memo"])))
        await eventually(lambda: _true(watcher.role == "standby"), what="the leader to step down")
        assert await receipts_of(shop.db, created["id"]) == []  # nothing was written after the theft
        # The thief never renews: the lease expires and this watcher leads again, then applies it.
        await eventually(lambda: _true(watcher.role == "leader"), within=20, what="leading again")
        await wait_status(shop.db, created["id"], "confirmed")


@POSTGRES_ONLY
async def test_listen_notify_wakes_the_watcher_for_new_payments(shop: Shop, aiohttp_client: Any) -> None:
    from api.app import create_app

    payments_section = shop.settings.payments.model_copy(update={"allow_any_destination": True})
    slow_poll = type(shop.settings.watcher).model_validate(
        {**shop.settings.watcher.model_dump(), "poll_interval_seconds": 5}
    )
    settings = shop.settings.model_copy(update={"payments": payments_section, "watcher": slow_poll})
    api = await aiohttp_client(create_app(settings, shop.db))
    elsewhere = await shop.network.funded()
    async with running_watcher(settings, shop.db) as watcher:
        await eventually(lambda: _true(bool(watcher.readers)), what="the stream")
        await asyncio.wait_for(watcher.listening.wait(), timeout=10)  # LISTEN is in effect
        started = time.monotonic()
        await initiate(
            api, shop.key, order_id="wake", amount="1", currency="XLM", destination=elsewhere.public_key
        )
        await eventually(
            lambda: _true(elsewhere.public_key in watcher.destinations), within=4, what="the wake-up"
        )
        noticed = time.monotonic() - started
    assert noticed < 1.0  # the poll interval is 5 s: only NOTIFY explains a quicker reaction


def test_concurrent_migrations_on_postgres(postgres_template: str) -> None:
    import uuid

    name = f"paywatch_t_{uuid.uuid4().hex[:16]}"
    _admin(f"CREATE DATABASE {name}")
    try:
        url = _pg_url(name)
        code = "import sys; from shared.store.migrate import upgrade; upgrade(sys.argv[1])"
        procs = [subprocess.Popen([sys.executable, "-c", code, url]) for _ in range(4)]
        assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
        assert current_revision(url) == head_revision()
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_second_watcher_on_one_sqlite_file_stands_by(shop: Shop, tmp_path: Path) -> None:
    async with two_watchers(shop, tmp_path) as (first, second):
        await eventually(lambda: _both_running(shop, first, second), within=60, what="two watchers")
        roles = {await instance_of(shop.db, p): None for p in (first, second)}
        async with shop.db.read() as conn:
            rows = {row.instance: row.role for row in await status_store.all_statuses(conn)}
        assert sorted(rows[instance] for instance in roles if instance) == ["leader", "standby"]
        leading, standing = (
            (first, second) if rows[await instance_of(shop.db, first) or ""] == "leader" else (second, first)
        )
        assert await gauges_say(shop.db, leading, standing)
    logs = (tmp_path / "watcher-1.log").read_text() + (tmp_path / "watcher-2.log").read_text()
    assert "standing by: another watcher leads on this database" in logs


async def test_two_databases_do_not_share_a_leader(db_url: str, tmp_path: Path) -> None:
    """The lease lives in the database: watchers of different databases each lead their own."""
    async with another_database(db_url, tmp_path) as other:
        first, second = Database.open(db_url), Database.open(other)
        try:
            async with first.write() as conn:
                token = await lease_store.try_acquire(conn, "watcher", "a", 5_000_000)
            async with second.write() as conn:
                other_token = await lease_store.try_acquire(conn, "watcher", "b", 5_000_000)
            assert (token, other_token) == (1, 1)
        finally:
            await first.close()
            await second.close()


@POSTGRES_ONLY
async def test_two_dispatchers_one_endpoint_each_delivery_once(
    shop: Shop, tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    """Leader and standby both deliver webhooks; each event reaches the receiver exactly once.

    The receiver holds every request until more are in flight at once than one dispatcher may send
    to the endpoint (`max_in_flight`): it only lets go once both dispatchers are delivering. Each
    watcher's log then names the events it delivered: two disjoint, non-empty sets that make up
    every event.
    """
    from aiohttp import web

    from api.app import create_app
    from shared.config import WebhookSettings

    received: list[str] = []
    in_flight = 0
    both_sending = asyncio.Event()
    endpoint = WebhookSettings(
        name="orders", url="http://127.0.0.1:9/hook", secret="whsec_c2NhbGUtb3V0LXRlc3Q=", max_in_flight=3
    )

    async def hook(request: web.Request) -> web.Response:
        nonlocal in_flight
        received.append(request.headers["webhook-id"])
        in_flight += 1
        if in_flight > endpoint.max_in_flight:
            both_sending.set()
        try:
            await both_sending.wait()
        finally:
            in_flight -= 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    receiver = await aiohttp_server(app)
    endpoint = endpoint.model_copy(update={"url": str(receiver.make_url("/hook"))})
    fast = type(shop.settings.webhook_delivery).model_validate(
        {**shop.settings.webhook_delivery.model_dump(), "poll_interval_seconds": 0.05}
    )
    settings = shop.settings.model_copy(update={"webhooks": [endpoint], "webhook_delivery": fast})
    shop.settings = settings  # the watchers' config
    api = await aiohttp_client(create_app(settings, shop.db))  # the API queues its own events too
    async with two_watchers(shop, tmp_path) as (first, second):
        await eventually(lambda: _both_running(shop, first, second), within=60, what="two watchers")
        created = [
            await initiate(api, shop.key, order_id=f"hook-{i}", amount="1", currency="XLM") for i in range(15)
        ]
        await asyncio.wait_for(both_sending.wait(), timeout=30)  # more in flight than one may send
        for item in created:
            await shop.client.pay(shop.buyer, item["muxed_destination"], "1")
        for item in created:
            await wait_status(shop.db, item["id"], "confirmed")
        async with shop.db.read() as conn:
            events = await event_store.list_events(conn, limit=10_000)
        wanted = {str(e.id) for e in events}
        await eventually(lambda: _true(set(received) >= wanted), within=30, what="every delivery")
    assert len(received) == len(set(received))  # nothing sent twice in parallel
    assert set(received) == wanted
    by_first, by_second = (_delivered(tmp_path / f"watcher-{n}.log") for n in (1, 2))
    assert by_first, "the first watcher's dispatcher delivered nothing"
    assert by_second, "the second watcher's dispatcher delivered nothing"
    assert not by_first & by_second
    assert len(by_first) + len(by_second) == len(wanted)
    assert by_first | by_second == wanted


def _delivered(log: Path) -> set[str]:
    """Event ids of the `webhook delivered` lines of a watcher's JSON log."""
    found = set()
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"webhook delivered"' in line:
            entry = json.loads(line)
            if entry.get("event") == "webhook delivered":
                found.add(str(entry["event_id"]))
    return found
