"""sd_notify from the daemons as real processes, to a NOTIFY_SOCKET the test owns.

The watcher: READY once its streams run, STATUS, WATCHDOG only while it makes progress — a store
that stops answering (a lock the test holds) stops the pings and restarting the store brings them
back; so do records received but not committed while the heartbeat still commits — and STOPPING
then a clean exit on SIGTERM. The API: READY only once its socket listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import psycopg
import pytest

from shared.store import status as status_store
from shared.store.engine import Database
from shared.systemd import watchdog_interval
from tests.conftest import make_settings
from tests.ops_support import Daemon, Message, NotifySocket, socket_dir
from tests.support import Network, all_receipts, config_toml, devnet_network, eventually

WATCHDOG_SECONDS = 0.8


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    async with devnet_network() as net:
        yield net


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    with socket_dir() as directory:
        sock = NotifySocket(directory / "notify")
        try:
            yield sock
        finally:
            sock.close()


def daemon_env(notify: NotifySocket, watchdog_seconds: float) -> dict[str, str]:
    return {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(int(watchdog_seconds * 1_000_000))}


@contextmanager
def holding(db_url: str, *, sqlite: tuple[str, str], postgres_lock: str) -> Iterator[None]:
    """While the block runs: SQLite — the first statement of `sqlite` has run on a connection of the
    test's own (the second undoes it); PostgreSQL — the test holds `postgres_lock` in EXCLUSIVE mode
    (readers pass, writes to that table wait)."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute(sqlite[0])
        try:
            yield
        finally:
            conn.execute(sqlite[1])
            conn.close()
    else:
        with psycopg.connect(db_url) as pg:
            pg.execute(f"LOCK TABLE {postgres_lock} IN EXCLUSIVE MODE")
            try:
                yield
            finally:
                pg.rollback()


def store_stalled(db_url: str) -> contextlib.AbstractContextManager[None]:
    """Make the store stop answering the watcher's writes: hold the write lock it needs (SQLite's
    single writer lock; PostgreSQL: the heartbeat row's table)."""
    return holding(db_url, sqlite=("BEGIN IMMEDIATE", "ROLLBACK"), postgres_lock="watcher_status")


def ingest_stalled(db_url: str) -> contextlib.AbstractContextManager[None]:
    """Stop the watcher's ingest transactions from committing while its heartbeat still commits.

    PostgreSQL: hold a lock on `receipts` (ingest writes it; the heartbeat does not), so the batch
    waits. SQLite locks the whole file, so instead a trigger refuses every receipt: the batch fails
    and is retried, again and again.
    """
    trigger = (
        "CREATE TRIGGER test_refuses_receipts BEFORE INSERT ON receipts "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    return holding(db_url, sqlite=(trigger, "DROP TRIGGER test_refuses_receipts"), postgres_lock="receipts")


def keys(messages: list[Message]) -> list[str]:
    return [key for message in messages for key in message]


async def test_watcher_ready_status_watchdog_only_with_progress_then_stopping(
    network: Network, db: Database, db_url: str, notify_socket: NotifySocket, tmp_path: Path
) -> None:
    merchant = await network.funded()
    settings = make_settings(
        db_url, [merchant.public_key], horizon_url=network.url, passphrase=network.net.passphrase
    )
    config = tmp_path / "watch.toml"
    config.write_text(config_toml(settings, db_url))
    watcher = Daemon("watch", config, tmp_path / "watcher.log", daemon_env(notify_socket, WATCHDOG_SECONDS))
    watcher.start()
    try:
        startup = await notify_socket.until(lambda m: "READY" in m)
        assert "WATCHDOG" not in keys(startup), "no watchdog pings before READY"
        assert startup[-1]["READY"] == "1"
        assert startup[-1]["STATUS"].startswith("mode=accounts streams=1/1")
        # The stream is positioned and reading: it is in the store already.
        async with db.read() as conn:
            status = await status_store.get_status(conn)
        assert status is not None
        assert status.pid == watcher.pid
        running = await notify_socket.until(lambda m: "WATCHDOG" in m)
        assert running[-1]["WATCHDOG"] == "1"

        async def metrics_url() -> str | None:
            async with db.read() as conn:
                row = await status_store.get_status(conn)
            return row.details if row and row.details and '"metrics_url": "http' in row.details else None

        details = await eventually(metrics_url, what="the metrics URL in the heartbeat")
        healthz = details.split('"metrics_url": "')[1].split('"')[0].removesuffix("/metrics") + "/healthz"
        async with aiohttp.ClientSession() as http:
            async with http.get(healthz) as response:
                assert response.status == 200

            with store_stalled(db_url):
                stalled = await notify_socket.until(
                    lambda m: "store not answering" in m.get("STATUS", ""), within=10
                )
                quiet = await notify_socket.during(2 * WATCHDOG_SECONDS)
                assert "WATCHDOG" not in keys(quiet), "pinged while the store did not answer"
                assert "WATCHDOG" not in stalled[-1]
                async with http.get(healthz) as response:
                    assert response.status == 503
                    assert "store not answering" in (await response.json())["problems"][0]
                assert watcher.running()
            resumed = await notify_socket.until(lambda m: "WATCHDOG" in m, within=20)
            assert resumed[-1]["WATCHDOG"] == "1"

        assert watcher.terminate() == 0
        notify_socket.drain()
        sequence = keys(notify_socket.received)
        assert sequence.count("READY") == 1
        assert sequence.index("READY") < sequence.index("WATCHDOG") < sequence.index("STOPPING")
        after_stop = sequence[sequence.index("STOPPING") :]
        assert "WATCHDOG" not in after_stop, "no pings once stopping"
    finally:
        watcher.kill()
    assert "Traceback" not in watcher.output()


async def test_no_watchdog_while_received_records_are_not_committed(
    network: Network, db: Database, db_url: str, notify_socket: NotifySocket, tmp_path: Path
) -> None:
    """The store answers the heartbeat, but a record the stream delivered cannot be committed: the
    pipeline is stuck, so no WATCHDOG=1 (even though the ingest queue itself is empty: the record is
    in the batch being applied). Once it commits, the pings come back."""
    merchant, buyer = await asyncio.gather(network.funded(), network.funded())
    settings = make_settings(
        db_url,
        [merchant.public_key],
        horizon_url=network.url,
        passphrase=network.net.passphrase,
        # The stuck batch holds the lease row FOR SHARE (its fencing check), so renewals wait: a
        # long lease keeps this watcher the leader through the stall instead of deposing itself.
        watcher={"leader_lease_seconds": 120},
    )
    config = tmp_path / "watch.toml"
    config.write_text(config_toml(settings, db_url))
    watcher = Daemon("watch", config, tmp_path / "watcher.log", daemon_env(notify_socket, WATCHDOG_SECONDS))
    watcher.start()
    try:
        await notify_socket.until(lambda m: "READY" in m)
        await notify_socket.until(lambda m: "WATCHDOG" in m)
        with ingest_stalled(db_url):
            paid = await network.client.pay(buyer, merchant.public_key, "1")  # no memo: an unmatched receipt
            stalled = await notify_socket.until(
                lambda m: "records not committed" in m.get("STATUS", ""), within=10
            )
            assert "WATCHDOG" not in stalled[-1]
            quiet = await notify_socket.during(2 * WATCHDOG_SECONDS)
            assert "WATCHDOG" not in keys(quiet), "pinged while received records were not committed"
            for message in [stalled[-1], *quiet]:
                assert "store not answering" not in message.get("STATUS", "")  # the heartbeat commits
            assert watcher.running()
            assert paid.hash not in await _receipt_hashes(db)
        resumed = await notify_socket.until(lambda m: "WATCHDOG" in m, within=30)
        assert resumed[-1]["WATCHDOG"] == "1"
        assert paid.hash in await _receipt_hashes(db)
        assert watcher.terminate() == 0
    finally:
        watcher.kill()


async def _receipt_hashes(db: Database) -> set[str]:
    return {receipt.transaction_hash for receipt in await all_receipts(db)}


async def test_api_ready_after_listening_watchdog_and_stopping(
    db_url: str, notify_socket: NotifySocket, tmp_path: Path
) -> None:
    settings = make_settings(db_url, ["GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"])
    config = tmp_path / "api.toml"
    config.write_text(config_toml(settings, db_url) + '[api]\nhost = "127.0.0.1"\nport = 0\n')
    api = Daemon("api", config, tmp_path / "api.log", daemon_env(notify_socket, 0.4))
    api.start()
    try:
        (ready,) = await notify_socket.until(lambda m: "READY" in m)
        assert ready["STATUS"].startswith("listening on http://127.0.0.1:")
        url = ready["STATUS"].removeprefix("listening on ")
        async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as response:
            assert response.status == 200  # READY came after the socket listened
        await notify_socket.until(lambda m: m.get("WATCHDOG") == "1", within=5)
        assert api.terminate() == 0
        notify_socket.drain()
        sequence = keys(notify_socket.received)
        assert sequence[0] == "READY"
        assert sequence[-2:] == ["STOPPING", "STATUS"]
    finally:
        api.kill()


def test_watchdog_settings_are_for_the_main_process_only() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}, pid=42) == 60.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "42"}, pid=42) == 60.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "41"}, pid=42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
