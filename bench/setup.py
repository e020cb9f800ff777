"""Databases and settings for benchmarks (a temporary SQLite file, or a fresh PostgreSQL database)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bench.common import results_dir
from bench.corpus import Corpus
from shared.clock import utcnow
from shared.config import AccountSettings, AssetSettings, Settings
from shared.store import streams as stream_store
from shared.store.engine import Database
from shared.store.migrate import upgrade
from shared.store.schema import payments

POSTGRES = os.environ.get("PAYWATCH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def database(backend: str) -> AsyncIterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{directory}/bench.db"
            upgrade(url)
            yield url
        return
    name = f"paywatch_bench_{uuid.uuid4().hex[:12]}"
    base = POSTGRES.rsplit("/", 1)[0]
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        url = f"{base}/{name}"
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def settings(
    url: str,
    corpus: Corpus,
    horizon_url: str,
    *,
    webhooks: list[dict[str, Any]] | None = None,
    **watcher: Any,
) -> Settings:
    return Settings(
        webhooks=webhooks or [],
        network={"name": "custom", "passphrase": "paywatch bench", "horizon_urls": [horizon_url]},
        database={"url": url},
        accounts=[AccountSettings(address=d, default=i == 0) for i, d in enumerate(corpus.destinations)],
        assets={
            "XLM": AssetSettings(native=True),
            "USDC": AssetSettings(code="USDC", issuer=corpus.usdc_issuer),
        },
        watcher={"metrics_port": 0, "backfill_margin_seconds": 0, "heartbeat_seconds": 1, **watcher},
        logging={"level": "warning", "format": "json"},
    )


async def load_payments(db: Database, corpus: Corpus) -> None:
    """The pending payments, inserted in bulk (a benchmark's fixture, not the API's path)."""
    now = utcnow()
    rows = [
        {
            "id": f"pay_bench{index:020d}",
            "order_id": f"bench-{index}",
            "status": "pending",
            "amount": p.amount,
            "currency": p.currency,
            "asset_code": "USDC" if p.currency == "USDC" else "XLM",
            "asset_issuer": corpus.usdc_issuer if p.currency == "USDC" else None,
            "destination": p.destination,
            "reference": p.reference,
            "memo_type": "id",
            "created_at": now,
            "updated_at": now,
            "expires_at": now.replace(year=now.year + 1),
        }
        for index, p in enumerate(corpus.payments)
    ]
    async with db.write() as conn:
        for start in range(0, len(rows), 2000):
            await conn.execute(payments.insert(), rows[start : start + 2000])


async def position_streams(db: Database, corpus: Corpus, mode: str) -> None:
    """Every stream starts at the corpus's beginning (no position search against the bench server)."""
    now = utcnow()
    async with db.write() as conn:
        if mode == "network":
            await stream_store.create_stream(conn, "network", "0", now)
        for destination in corpus.destinations:
            key = f"account:{destination}"
            await stream_store.create_stream(conn, key, "0", now)
            if mode == "network":
                await stream_store.set_follows(conn, key, "network", None, now)


def config_toml(
    url: str,
    destinations: list[str],
    usdc_issuer: str,
    horizon_url: str,
    *,
    api_port: int = 0,
    level: str = "info",
    watcher: dict[str, Any] | None = None,
) -> str:
    """A config file for a paywatch process (benchmarks run `paywatch api`/`watch` as a user would)."""
    accounts = "".join(
        f'[[accounts]]\naddress = "{d}"\ndefault = {"true" if i == 0 else "false"}\n'
        for i, d in enumerate(destinations)
    )
    return (
        f'[network]\nname = "custom"\npassphrase = "paywatch bench"\nhorizon_urls = ["{horizon_url}"]\n'
        f'[database]\nurl = "{url}"\n'
        f"{accounts}"
        "[assets.XLM]\nnative = true\n"
        f'[assets.USDC]\ncode = "USDC"\nissuer = "{usdc_issuer}"\n'
        f'[api]\nhost = "127.0.0.1"\nport = {api_port}\n'
        f'[logging]\nlevel = "{level}"\nformat = "json"\n'
        + "[watcher]\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in (watcher or {}).items())
    )


@asynccontextmanager
async def paywatch_process(
    command: str, config: str, log_name: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`paywatch <command>` as its own process, as deployed, with this config; its output goes to
    bench/results/<log_name>.log. Stopped with SIGTERM on exit (SIGKILL if it does not stop)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "paywatch.toml"
        path.write_text(config)
        with (results_dir() / f"{log_name}.log").open("wb") as log:
            executable = str(Path(sys.executable).with_name("paywatch"))
            process = await asyncio.create_subprocess_exec(
                executable, command, "--config", str(path), stdout=log, stderr=subprocess.STDOUT
            )
            try:
                yield process
            finally:
                if process.returncode is None:
                    process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def wait_answering(url: str, process: asyncio.subprocess.Process, *, within: float = 120) -> None:
    """Until GET `url` answers 200; fails if the process exits first or `within` seconds pass."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"paywatch exited with {process.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"paywatch did not answer {url} within {within:g} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
