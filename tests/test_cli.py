"""The `paywatch` command as a user runs it: the venv's console script, in real processes.

`init` writes a loadable config, keeps a new account's secret in a mode-0600 file it never prints,
migrates the database and prints an API key once; `apikey create/list/revoke` round-trips and the
API refuses a revoked key; `run` serves the API and the watcher together on a devnet and stops
cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from stellar_sdk import Keypair

from api.app import create_app
from api.auth import KEY_CACHE_SECONDS
from shared.config import load_settings
from shared.store import status as status_store
from shared.store.engine import Database
from shared.store.migrate import current_revision, head_revision
from tests.conftest import make_settings, new_api_key
from tests.support import Network, config_toml, eventually, paid_through_api

PAYWATCH = Path(sys.executable).parent / "paywatch"  # the console script installed in the venv
API_KEY = re.compile(r"pw_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")
SECRET_SEED = re.compile(r"S[A-Z2-7]{55}")
ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"


@dataclass
class Ran:
    status: int
    out: str
    err: str


def child_env() -> dict[str, str]:
    """The test's environment without systemd's hand-overs: the child is not a service here."""
    skip = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "PAYWATCH_CONFIG")
    return {key: value for key, value in os.environ.items() if key not in skip}


async def paywatch(*args: str, cwd: Path | None = None) -> Ran:
    assert PAYWATCH.exists(), f"{PAYWATCH} is missing: install the package into the venv (make)"
    process = await asyncio.create_subprocess_exec(
        str(PAYWATCH),
        *args,
        cwd=cwd,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def answers(api: Any, key: str) -> int:
    response = await api.get("/payments", headers={"Authorization": f"Bearer {key}"})
    return int(response.status)


# --- init ---------------------------------------------------------------------------------------


async def test_init_writes_a_config_a_secret_file_a_migrated_database_and_prints_a_key_once(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    config = tmp_path / "etc" / "paywatch.toml"
    ran = await paywatch("init", "--config", str(config))
    assert ran.status == 0, ran.err
    settings = load_settings(config)  # loadable as written
    assert settings.network.name == "testnet"
    assert settings.database_url.startswith("sqlite:///")
    assert Path(settings.database_url.removeprefix("sqlite:///")).parent == config.parent

    secret_file = config.parent / "paywatch-account.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    seed = secret_file.read_text().strip()
    (account,) = settings.accounts
    assert (account.address, account.default) == (Keypair.from_secret(seed).public_key, True)
    for printed in (ran.out, ran.err):
        assert seed not in printed
        assert not SECRET_SEED.search(printed)  # no secret seed at all, not even another one
    assert account.address in ran.out

    keys = API_KEY.findall(ran.out + ran.err)
    assert len(keys) == 1  # printed once
    assert current_revision(settings.database_url) == head_revision()
    db = Database.open(settings.database_url)
    try:
        api = await aiohttp_client(create_app(settings, db))
        assert await answers(api, keys[0]) == 200  # the printed key is a working admin key
    finally:
        await db.close()

    again = await paywatch("init", "--config", str(config))
    assert again.status == 1
    assert "exists already" in again.err
    assert load_settings(config).accounts[0].address == account.address  # not overwritten


async def test_init_with_an_account_writes_no_secret(tmp_path: Path) -> None:
    config = tmp_path / "paywatch.toml"
    ran = await paywatch("init", "--account", ACCOUNT, "--config", str(config))
    assert ran.status == 0, ran.err
    (account,) = load_settings(config).accounts
    assert account.address == ACCOUNT
    assert not (tmp_path / "paywatch-account.secret").exists()
    assert len(API_KEY.findall(ran.out)) == 1
    assert current_revision(load_settings(config).database_url) == head_revision()

    refused = await paywatch("init", "--account", "GNOTANACCOUNT", "--config", str(tmp_path / "x.toml"))
    assert refused.status == 64
    assert "not a valid Stellar account" in refused.err


# --- apikey ---------------------------------------------------------------------------------------


async def test_apikey_create_list_revoke_and_the_api_refuses_the_revoked_key(
    db: Database, db_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    settings = make_settings(db_url, [ACCOUNT])
    config = tmp_path / "paywatch.toml"
    config.write_text(config_toml(settings, db_url))
    api = await aiohttp_client(create_app(settings, db))

    created = await paywatch(
        "apikey", "create", "--name", "shop", "--scopes", "payments:read", "--config", str(config)
    )
    assert created.status == 0, created.err
    (key,) = API_KEY.findall(created.out)
    key_id = key.split("_")[1]
    assert await answers(api, key) == 200
    posted = await api.post(
        "/payments/initiate",
        json={"order_id": "k", "amount": "1", "currency": "XLM"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert posted.status == 403  # only the scope it was given

    listed = await paywatch("apikey", "list", "--config", str(config))
    assert listed.status == 0, listed.err
    (row,) = [line.split() for line in listed.out.splitlines() if line.startswith(key_id)]
    assert row[-1] == "shop"
    assert "payments:read" in row
    assert "-" in row  # not revoked
    assert key.split("_")[2] not in listed.out  # the secret part is never shown again

    revoked = await paywatch("apikey", "revoke", key_id, "--config", str(config))
    assert revoked.status == 0, revoked.err
    # The API reuses a key's row for KEY_CACHE_SECONDS: the revocation takes effect within that.
    await eventually(
        lambda: _equals(answers(api, key), 401), within=KEY_CACHE_SECONDS + 3, what="the key refused"
    )
    response = await api.get("/payments", headers={"Authorization": f"Bearer {key}"})
    assert (await response.json())["detail"] == "this API key was revoked"
    listed = await paywatch("apikey", "list", "--config", str(config))
    (row,) = [line.split() for line in listed.out.splitlines() if line.startswith(key_id)]
    assert "-" not in row  # a revocation time now

    again = await paywatch("apikey", "revoke", key_id, "--config", str(config))
    assert again.status == 1
    assert "no active API key" in again.err
    bad_scope = await paywatch(
        "apikey", "create", "--name", "x", "--scopes", "everything", "--config", str(config)
    )
    assert bad_scope.status == 64
    assert "unknown scope 'everything'" in bad_scope.err


async def _equals(awaitable: Any, expected: Any) -> bool:
    return bool(await awaitable == expected)


# --- run ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_run_serves_api_and_watcher_on_a_devnet_and_stops_on_sigterm(
    network: Network, db: Database, db_url: str, tmp_path: Path
) -> None:
    merchant, buyer = await asyncio.gather(network.funded(), network.funded())
    settings = make_settings(
        db_url, [merchant.public_key], horizon_url=network.url, passphrase=network.net.passphrase
    )
    config = tmp_path / "paywatch.toml"
    config.write_text(config_toml(settings, db_url) + '[api]\nhost = "127.0.0.1"\nport = 0\n')
    assert 'name = "custom"' in config.read_text()
    output = tmp_path / "run.log"
    with output.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(PAYWATCH),
            "run",
            "--config",
            str(config),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**child_env(), "PYTHONUNBUFFERED": "1"},
        )
    try:
        api_url = await eventually(lambda: _api_url(output), within=60, what="`paywatch run` to listen")
        key = await new_api_key(db)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            async with http.get(f"{api_url}/healthz") as response:
                assert response.status == 200
            metrics_url = await eventually(lambda: _metrics_url(db), what="the watcher's metrics URL")
            healthz = metrics_url.removesuffix("/metrics") + "/healthz"
            await eventually(lambda: _status(http, healthz, 200), within=30, what="the watcher's /healthz")
            # Both halves work together: the API creates a payment, the watcher confirms it.
            await paid_through_api(
                http, api_url, network, buyer, db, order_id="run-1", amount="2", currency="XLM"
            )
        process.send_signal(signal.SIGTERM)  # by its pid
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)
    text = await asyncio.to_thread(output.read_text)
    assert "Traceback" not in text
    assert f"curl -s -X POST {api_url}/payments/initiate" in text


async def _api_url(output: Path) -> str | None:
    text = await asyncio.to_thread(output.read_text)
    found = re.search(r"^paywatch: API on (http://127\.0\.0\.1:[1-9]\d*) ", text, re.MULTILINE)
    return found.group(1) if found else None


async def _metrics_url(db: Database) -> str | None:
    async with db.read() as conn:
        row = await status_store.get_status(conn)
    url = json.loads(row.details).get("metrics_url") if row and row.details else None
    return url if isinstance(url, str) else None


async def _status(http: aiohttp.ClientSession, url: str, expected: int) -> bool:
    async with http.get(url) as response:
        return response.status == expected
