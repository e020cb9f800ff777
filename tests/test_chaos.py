"""The chaos test (issue 5): the same script of payments, run undisturbed and under chaos — the
watcher SIGKILLed at random moments many times while the devnet drops, repeats, stalls, refuses and
garbles stream traffic. The stores must end equal (statuses, amounts, receipts, events), and
reconcile must find nothing missing.

Size knobs (environment): PAYWATCH_CHAOS_INTENTS (default 48), PAYWATCH_CHAOS_SEED, and
PAYWATCH_CHAOS_KILL_EVERY (mean seconds between kills, default 0.8). The long form used for the
numbers in docs/chaos.md: PAYWATCH_CHAOS_INTENTS=8000.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from shared.apply import context_from_settings
from shared.clock import utcnow
from shared.stellar.horizon import HorizonClient
from shared.store import status as status_store
from shared.store.engine import Database
from tests.chaos import World, execute, fund_world, plan, settled, snapshot, statuses_reached
from tests.conftest import another_database, make_settings, new_api_key
from tests.support import WatcherProcess, config_toml, devnet_network, eventually, running_watcher
from watcher.reconcile import reconcile

INTENTS = int(os.environ.get("PAYWATCH_CHAOS_INTENTS", "48"))
SEED = int(os.environ.get("PAYWATCH_CHAOS_SEED", "2026"))
KILL_EVERY = float(os.environ.get("PAYWATCH_CHAOS_KILL_EVERY", "0.8"))
BUYERS = 4
FAULTS: list[Callable[[random.Random, str], dict[str, Any]]] = [
    lambda rng, prefix: {
        "kind": "drop",
        "path_prefix": prefix,
        "count": 1,
        "after_events": rng.randint(0, 5),
    },
    lambda rng, prefix: {
        "kind": "repeat",
        "path_prefix": prefix,
        "count": 2,
        "repeat": rng.choice(["duplicate", "previous"]),
    },
    lambda rng, prefix: {"kind": "stall", "path_prefix": prefix, "count": 1},
    lambda rng, prefix: {
        "kind": "status",
        "status": rng.choice([429, 503]),
        "retry_after": 1,
        "path_prefix": prefix,
        "count": 2,
    },
    lambda rng, prefix: {
        "kind": "garbage",
        "garbage": rng.choice(["missing_field", "invalid_json", "malformed_line", "bytes"]),
        "missing_field": "created_at",
        "path_prefix": prefix,
        "count": 1,
    },
]


@asynccontextmanager
async def world_on(db_url: str, aiohttp_client: Any, mode: str) -> AsyncIterator[tuple[World, Any, Database]]:
    async with devnet_network() as network:
        merchants, buyers, issuer, forger = await fund_world(network, BUYERS, INTENTS)
        settings = make_settings(
            db_url,
            [m.public_key for m in merchants],
            horizon_url=network.url,
            passphrase=network.net.passphrase,
            usdc_issuer=issuer.public_key,
            watcher={"mode": mode, "stream_silence_seconds": 1.0, "reconnect_max_seconds": 2.0},
        )
        db = Database.open(db_url)
        shift = [timedelta(0)]

        def set_shift(value: timedelta) -> None:
            shift[0] = value

        try:
            api = await aiohttp_client(create_app(settings, db, now=lambda: utcnow() + shift[0]))
            world = World(
                network, db, api, await new_api_key(db), merchants, buyers, issuer, forger, set_shift
            )
            yield world, settings, db
        finally:
            await db.close()


async def wait_settled(world: World, intents: list[Any], within: float) -> dict[int, dict[str, Any]]:
    async def check() -> dict[int, dict[str, Any]] | None:
        if not await statuses_reached(world, intents):
            return None
        shot = await snapshot(world)
        return shot if settled(shot, intents) else None

    return await eventually(check, within=within, what="every intent to settle")


@pytest.mark.slow
async def test_chaos_equals_an_undisturbed_run(db_url: str, tmp_path: Path, aiohttp_client: Any) -> None:
    intents = plan(INTENTS, SEED, buyers=BUYERS)
    # Both modes are exercised: SQLite runs the chaos in accounts mode, PostgreSQL in network mode.
    chaos_mode = "accounts" if db_url.startswith("sqlite") else "network"

    # Run A: undisturbed, the watcher in this process.
    async with (
        world_on(db_url, aiohttp_client, "accounts") as (world, settings, db),
        running_watcher(settings, db),
    ):
        await execute(world, intents)
        calm = await wait_settled(world, intents, within=120)

    # Run B: the same script under chaos.
    rng = random.Random(SEED)
    started = time.monotonic()
    kills = faults = 0
    async with (
        another_database(db_url, tmp_path) as chaos_url,
        world_on(chaos_url, aiohttp_client, chaos_mode) as (world, settings, db),
    ):
        since = utcnow() - timedelta(minutes=2)
        config = tmp_path / "chaos.toml"
        config.write_text(config_toml(settings, chaos_url))
        process = WatcherProcess(config, tmp_path / "chaos-watcher.log")

        async def running() -> bool:
            async with db.read() as conn:
                status = await status_store.get_status(conn)
            return status is not None and process.process is not None and status.pid == process.process.pid

        prefixes = (
            ["/payments"]
            if chaos_mode == "network"
            else [f"/accounts/{m.public_key}" for m in world.merchants]
        )
        process.start()
        script = asyncio.create_task(execute(world, intents))
        try:
            while not script.done() or kills < 8:
                await eventually(running, within=60, what="the watcher process to be running")
                await asyncio.sleep(rng.expovariate(1 / KILL_EVERY))
                world.network.net.add_fault(**rng.choice(FAULTS)(rng, rng.choice(prefixes)))
                faults += 1
                process.kill()
                kills += 1
                process.start()
            await script
            disturbed = await wait_settled(world, intents, within=180)
            elapsed = time.monotonic() - started
            horizon = HorizonClient([world.network.url], world.network.client.session)
            audit = await reconcile(
                db, horizon, context_from_settings(settings), accounts=settings.account_addresses, since=since
            )
        finally:
            script.cancel()
            process.stop()
    summary = {
        "intents": len(intents),
        "kills": kills,
        "faults": faults,
        "chaos_seconds": round(elapsed, 1),
        "mode": chaos_mode,
        "backend": db_url.split(":")[0],
    }
    print("chaos:", json.dumps(summary))
    assert disturbed == calm
    assert [f.line() for f in audit.findings] == []
    assert audit.inconsistent == []
    assert kills >= 8
