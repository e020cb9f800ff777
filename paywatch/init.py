"""`paywatch init`: a first configuration (testnet, SQLite), a receiving account and an API key."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from stellar_sdk import Keypair

from shared.domain.strkeys import is_account_id

CIRCLE_TESTNET_USDC = "GBBD47IF6LWK7P7MDEVSCWR7DPUWV3NY3DTQEVFL4NAT4AQH3ZLLFLA5"
ACCOUNT_KEY_FILE = "paywatch-account.secret"

TEMPLATE = """\
# paywatch configuration, written by `paywatch init`. Every key is explained in config.example.toml.

[network]
name = "testnet"
horizon_urls = ["https://horizon-testnet.stellar.org"]

[database]
url = "sqlite:///paywatch.db"   # relative to this file

[[accounts]]
address = "{account}"
default = true

[assets.XLM]
native = true

[assets.USDC]
code = "USDC"
issuer = "{usdc}"   # Circle's testnet issuer: code AND issuer must match

[payments]
timeout_minutes = 30
late_window_minutes = 1440
underpayment_tolerance_percent = 0
accept_late = false
memo_type = "id"
muxed = true

[watcher]
mode = "auto"

[api]
host = "127.0.0.1"
port = 8080
"""


def _write_secret(path: Path, secret: str) -> None:
    """Create the file with mode 0600 from the start (never world-readable, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")


def write_initial_config(args: argparse.Namespace) -> int:
    from paywatch.cli import CommandError
    from paywatch.keys import create_key
    from shared.config import load_settings
    from shared.store.engine import Database
    from shared.store.migrate import upgrade

    path = Path(args.config or "paywatch.toml")
    if path.exists() and not args.force:
        raise CommandError(f"{path} exists already (use --force to overwrite it)")
    path.parent.mkdir(parents=True, exist_ok=True)  # the secret file goes beside it, first
    if args.account:
        if not is_account_id(args.account):
            raise CommandError("--account is not a valid Stellar account address (G…)", 64)
        account = args.account
        note = f"receiving account {account}"
    else:
        keypair = Keypair.random()
        secret_path = path.parent / ACCOUNT_KEY_FILE
        if secret_path.exists():
            raise CommandError(f"{secret_path} exists already; pass --account or move it away")
        _write_secret(secret_path, keypair.secret)
        account = keypair.public_key
        note = (
            f"new testnet receiving account {account}\n"
            f"  its secret key is in {secret_path} (mode 0600); it was not printed and is never logged.\n"
            f"  Fund it before use: https://friendbot.stellar.org/?addr={account}"
        )
    path.write_text(TEMPLATE.format(account=account, usdc=CIRCLE_TESTNET_USDC))
    settings = load_settings(path)
    upgrade(settings.database_url)

    async def make_key() -> str:
        db = Database.open(settings.database_url)
        try:
            return await create_key(db, "initial key (paywatch init)", ("admin",))
        finally:
            await db.close()

    key = asyncio.run(make_key())
    print(f"paywatch: wrote {path} with {note}")
    print("paywatch: API key (admin scope), shown only this once — store it now:")
    print(f"  {key}")
    return 0
