"""Shared fixtures: both database backends, settings, API keys, the horizon fixtures directory.

PostgreSQL: tests use PAYWATCH_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
When it cannot be reached the PostgreSQL variants skip with the reason, unless CI=true or
PAYWATCH_TEST_REQUIRE_POSTGRES=1, where they fail. Each test gets its own database, cloned from a
template migrated once per session.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
from aiohttp.test_utils import TestClient
from playwright.async_api import BrowserContext
from stellar_sdk import Asset, Keypair

from api.app import create_app
from devnet.client import DevnetClient
from shared.config import AccountSettings, AssetSettings, Settings
from shared.logging import configure
from shared.store.engine import Database
from shared.store.migrate import upgrade
from tests.browser import chromium
from tests.support import Network, devnet_network, missing, running_watcher

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "horizon-fixtures"
POSTGRES_URL = os.environ.get("PAYWATCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# One template per test session: several sessions (developers, CI) may share one server.
TEMPLATE_DB = f"paywatch_tmpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
USDC_ISSUER = "GBBD47IF6LWK7P7MDEVSCWR7DPUWV3NY3DTQEVFL4NAT4AQH3ZLLFLA5"


def ci_requires_everything() -> bool:
    return (
        os.environ.get("CI", "").lower() == "true" or os.environ.get("PAYWATCH_TEST_REQUIRE_POSTGRES") == "1"
    )


def fixtures_dir() -> Path:
    """../shared/horizon-fixtures beside the clone: skipped in a user's clone, required in CI."""
    if FIXTURES.is_dir():
        return FIXTURES
    missing(
        f"Horizon fixtures not found at {FIXTURES} (they live beside the repository, not in it)",
        "CI=true requires them",
    )


def _pg_url(database: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{database}"


def _admin(sql: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    try:
        _admin(f"CREATE DATABASE {TEMPLATE_DB}")
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).strip().splitlines()[0]}"
        if ci_requires_everything():
            pytest.fail(reason + " (CI requires PostgreSQL)")
        pytest.skip(reason)
    try:
        upgrade(_pg_url(TEMPLATE_DB))
        yield TEMPLATE_DB
    finally:
        _admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    template = request.getfixturevalue("postgres_template")
    name = f"paywatch_t_{uuid.uuid4().hex[:16]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield _pg_url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'paywatch.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on each backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.open(db_url)
    try:
        yield database
    finally:
        await database.close()


def make_settings(
    db_url: str,
    accounts: list[str],
    *,
    horizon_url: str = "http://127.0.0.1:9",
    passphrase: str = "paywatch devnet ; 2026",
    usdc_issuer: str = USDC_ISSUER,
    **sections: dict[str, Any],
) -> Settings:
    values: dict[str, Any] = {
        "network": {"name": "custom", "passphrase": passphrase, "horizon_urls": [horizon_url]},
        "database": {"url": db_url},
        "accounts": [AccountSettings(address=a, default=i == 0) for i, a in enumerate(accounts)],
        "assets": {
            "XLM": AssetSettings(native=True),
            "USDC": AssetSettings(code="USDC", issuer=usdc_issuer),
        },
        "watcher": {
            # Fixed mode: with 50 ms devnet ledgers `auto` would (rightly) move to network mode.
            "mode": "accounts",
            "poll_interval_seconds": 0.05,
            "heartbeat_seconds": 0.5,
            "backfill_margin_seconds": 0,
            "expiry_check_seconds": 0.1,
            "not_found_retry_seconds": 0.2,
            "leader_lease_seconds": 2,
            "metrics_port": 0,  # in-process watchers: any free port, never a running watcher's
        },
    }
    for section, overrides in sections.items():
        base = values.get(section, {})
        values[section] = {**base, **overrides} if isinstance(base, dict) else overrides
    return Settings(**values)


async def new_api_key(db: Database, scopes: tuple[str, ...] = ("admin",)) -> str:
    from paywatch.keys import create_key

    return await create_key(db, "test", scopes)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """structlog configured as paywatch does it, into a buffer; structlog's defaults again after."""
    out = io.StringIO()
    configure("debug", "json", stream=out)
    try:
        yield out
    finally:
        structlog.reset_defaults()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


# --- end to end: a devnet on loopback, a merchant, a buyer with USDC, the API -------------------


@dataclass
class Shop:
    network: Network
    db: Database
    db_url: str
    merchant: Keypair
    buyer: Keypair
    issuer: Keypair
    api: TestClient[Any, Any]
    key: str
    settings: Settings

    @property
    def client(self) -> DevnetClient:
        return self.network.client

    @property
    def usdc(self) -> Asset:
        return Asset("USDC", self.issuer.public_key)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    async with devnet_network() as net:
        yield net


@pytest.fixture
async def shop(network: Network, db: Database, db_url: str, aiohttp_client: Any) -> Shop:
    merchant, buyer, issuer = await asyncio.gather(network.funded(), network.funded(), network.funded())
    usdc = Asset("USDC", issuer.public_key)
    await network.client.trust(merchant, usdc)
    await network.client.issue(issuer, buyer, usdc, "100000")
    settings = make_settings(
        db_url,
        [merchant.public_key],
        horizon_url=network.url,
        passphrase=network.net.passphrase,
        usdc_issuer=issuer.public_key,
    )
    api = await aiohttp_client(create_app(settings, db))
    return Shop(network, db, db_url, merchant, buyer, issuer, api, await new_api_key(db), settings)


@pytest.fixture
async def watching(shop: Shop) -> AsyncIterator[Shop]:
    async with running_watcher(shop.settings, shop.db):
        yield shop


@asynccontextmanager
async def another_database(db_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second migrated database on the same backend as `db_url` (for comparing two runs)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'second.db'}"
        upgrade(url)
        yield url
        return
    name = f"paywatch_t_{uuid.uuid4().hex[:16]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    try:
        yield _pg_url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- browser tests -------------------------------------------------------------------------------


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A headless Chromium (Playwright BrowserContext) with a fresh profile; see tests/browser.py."""
    async with chromium(tmp_path / "chromium-profile") as context:
        yield context
