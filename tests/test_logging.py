"""Logging: journald native entries (a fake journal socket), JSON lines, secrets never logged."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from stellar_sdk import IdMemo

from api.app import create_app
from shared.journal import JournalSender, encode, field_name, stream_is_journal
from shared.logging import choose_format
from shared.store.engine import Database
from tests.conftest import make_settings, new_api_key
from tests.ops_support import Daemon, JournalSocket, parse_journal_entry, socket_dir
from tests.support import Network, config_toml, devnet_network, initiate, wait_status

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"


@pytest.fixture
def journal() -> Iterator[JournalSocket]:
    with socket_dir() as directory:
        sock = JournalSocket(directory / "journal")
        try:
            yield sock
        finally:
            sock.close()


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    async with devnet_network() as net:
        yield net


def test_entries_encode_plain_and_multiline_values() -> None:
    fields = {"MESSAGE": "payment confirmed\nTraceback: …", "PAYMENT_ID": "pay_1", "EMPTY": ""}
    data = encode(fields)
    assert b"PAYMENT_ID=pay_1\n" in data
    assert b"MESSAGE\n" + len(fields["MESSAGE"].encode()).to_bytes(8, "little") in data
    assert parse_journal_entry(data) == fields
    assert (field_name("payment_id"), field_name("tx-hash"), field_name("_trusted")) == (
        "PAYMENT_ID",
        "TX_HASH",
        None,
    )
    assert field_name("1st") is None


def test_an_entry_too_big_for_a_datagram_goes_in_a_sealed_memfd(journal: JournalSocket) -> None:
    entry = encode({"MESSAGE": "x" * 1_000_000})
    sender = JournalSender(str(journal.path))
    try:
        sender.send(entry)
    finally:
        sender.close()
    journal.sock.setblocking(True)
    message, fds, _flags, _address = socket.recv_fds(journal.sock, 16, 1)
    assert message == b""
    (fd,) = fds
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE
        assert seals & fcntl.F_SEAL_SHRINK
        assert seals & fcntl.F_SEAL_GROW
        with os.fdopen(os.dup(fd), "rb") as handle:
            handle.seek(0)
            assert handle.read() == entry
    finally:
        os.close(fd)


def test_auto_picks_the_journal_only_for_systemd_s_journal_stream(tmp_path: Path) -> None:
    with (tmp_path / "out").open("w") as out:
        stat = os.fstat(out.fileno())
        assert stream_is_journal(out.fileno(), f"{stat.st_dev}:{stat.st_ino}")
        assert not stream_is_journal(out.fileno(), f"{stat.st_dev}:{stat.st_ino + 1}")
        assert not stream_is_journal(out.fileno(), "garbage")
    assert choose_format("auto", io.StringIO(), environ={}) == "json"
    assert choose_format("journal", io.StringIO(), environ={}) == "journal"


def test_secrets_are_never_written(log_output: io.StringIO) -> None:
    out = log_output
    log = structlog.get_logger("paywatch.test")
    api_key = "pw_abcdefghijkl_" + "A" * 43
    seed = "SCZANGBA5YHTNYVVV4C3U252E2B6P6F5T3U6MM63WBSBZATAQI3EBTQ4"
    log.info("config loaded", webhook_secret="whsec_c2VjcmV0", database_url="postgresql://pw:hunter2@db/pw")
    log.warning("bad key presented", header=f"Bearer {api_key}", note=f"seed {seed}")
    try:
        raise ValueError("whsec_c2VjcmV0 leaked into an error")
    except ValueError:
        log.exception("unhandled")
    text = out.getvalue()
    for secret in ("c2VjcmV0", "hunter2", api_key, seed):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["database_url"] == "postgresql://**********@db/pw"
    assert lines[0]["logger"] == "paywatch.test"


async def test_api_log_lines_carry_the_request_and_payment_ids(
    log_output: io.StringIO, db: Database, db_url: str, aiohttp_client: Any
) -> None:
    api = await aiohttp_client(create_app(make_settings(db_url, [ACCOUNT]), db))
    key = await new_api_key(db)
    created = await initiate(api, key, order_id="l-1", amount="1", currency="XLM")
    response = await api.get(
        f"/payments/{created['id']}", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "req-42"}
    )
    assert response.status == 200
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    (initiated,) = [line for line in lines if line["event"] == "payment initiated"]
    assert (initiated["payment_id"], initiated["order_id"], initiated["account"]) == (
        created["id"],
        "l-1",
        ACCOUNT,
    )
    (read,) = [line for line in lines if line["event"] == "request" and line.get("request_id") == "req-42"]
    assert read["payment_id"] == created["id"]
    assert (read["route"], read["status"], read["method"]) == ("/payments/{payment_id}", 200, "GET")
    assert key not in log_output.getvalue()


async def test_a_confirmed_payment_is_a_journal_entry_with_native_fields(
    network: Network, sqlite_url: str, journal: JournalSocket, tmp_path: Path, aiohttp_client: Any
) -> None:
    merchant, buyer = await asyncio.gather(network.funded(), network.funded())
    settings = make_settings(
        sqlite_url, [merchant.public_key], horizon_url=network.url, passphrase=network.net.passphrase
    )
    config = tmp_path / "watch.toml"
    config.write_text(config_toml(settings, sqlite_url).replace('format = "json"', 'format = "auto"'))
    stdout = tmp_path / "watcher.out"
    stdout.touch()
    stat = stdout.stat()
    # As under systemd: stdout is the journal stream named by $JOURNAL_STREAM, so `auto` speaks native.
    env = {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}", "PAYWATCH_JOURNAL_SOCKET": str(journal.path)}
    watcher = Daemon("watch", config, stdout, env)
    db = Database.open(sqlite_url)
    try:
        api = await aiohttp_client(create_app(settings, db))
        key = await new_api_key(db)
        watcher.start()
        await journal.entry(lambda e: e["MESSAGE"].startswith("watcher ready"))
        created = await initiate(api, key, order_id="j-1", amount="12.5", currency="XLM")
        paid = await network.client.pay(buyer, merchant.public_key, "12.5", memo=IdMemo(int(created["memo"])))
        await wait_status(db, created["id"], "confirmed")
        entry = await journal.entry(
            lambda e: e.get("PAYMENT_ID") == created["id"] and e["MESSAGE"].startswith("payment confirmed")
        )
        assert watcher.terminate() == 0
    finally:
        watcher.kill()
        await db.close()
    assert entry["MESSAGE"].startswith("payment confirmed ")
    assert entry["TX_HASH"] == paid.hash
    assert entry["ACCOUNT"] == merchant.public_key
    assert entry["PRIORITY"] == "6"
    assert entry["SYSLOG_IDENTIFIER"] == "paywatch-watcher"
    assert entry["LOGGER"] == "paywatch.watcher.ingest"
    receipt = await journal.entry(lambda e: e["MESSAGE"].startswith("receipt recorded") and "PAYMENT_ID" in e)
    assert receipt["DISPOSITION"] == "accepted"
    assert not any(key.startswith("_") for e in journal.received for key in e)
    assert stdout.read_text() == ""  # everything went to the journal, nothing to stdout
