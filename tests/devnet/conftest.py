"""Fixtures: a devnet served on 127.0.0.1 (port 0) and a client bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from stellar_sdk import Keypair

from devnet import DevNet, serve
from devnet.client import DevnetClient

FAST_LEDGERS = 0.01  # seconds: submissions settle almost at once


@pytest.fixture
def net() -> DevNet:
    return DevNet(ledger_interval=FAST_LEDGERS)


@pytest.fixture
async def horizon(net: DevNet) -> AsyncIterator[str]:
    async with serve(net, connection_timeout=10.0) as url:
        yield url


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def client(horizon: str, net: DevNet, session: aiohttp.ClientSession) -> AsyncIterator[DevnetClient]:
    async with DevnetClient(horizon, net.passphrase, session=session) as c:
        yield c


@pytest.fixture
def funded(client: DevnetClient) -> Callable[[], Awaitable[Keypair]]:
    """Make a fresh account funded by friendbot (10,000 XLM)."""

    async def make() -> Keypair:
        keypair = Keypair.random()
        await client.friendbot(keypair.public_key)
        return keypair

    return make
