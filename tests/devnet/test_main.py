"""`devnet.main`: the runnable entry point the product CLI delegates to."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import aiohttp

from devnet.main import add_arguments
from devnet.network import DEFAULT_PASSPHRASE


def test_arguments_and_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.ledger_interval, args.passphrase, args.connection_timeout) == (
        "127.0.0.1",
        8000,
        5.0,
        DEFAULT_PASSPHRASE,
        55.0,
    )


async def test_runs_until_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devnet.main",
        "--port",
        "0",
        "--ledger-interval",
        "0.05",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        prefix = "devnet: listening on "
        assert line.startswith(prefix)
        url, _, passphrase = line[len(prefix) :].rstrip("\n").partition(" passphrase=")
        assert url.startswith("http://127.0.0.1:")
        assert passphrase == DEFAULT_PASSPHRASE
        async with aiohttp.ClientSession() as session, session.get(url + "/") as response:
            assert (await response.json(content_type=None))["network_passphrase"] == DEFAULT_PASSPHRASE
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
