"""The `paywatch` command line: the composition root, the only module that imports every part."""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from shared.config import EX_CONFIG, ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from shared.store.engine import Database

EX_USAGE = 64
EX_SOFTWARE = 70
EX_DISCREPANCIES = 3  # reconcile found something it did not (or could not) repair
EX_OSERR = 71


class CommandError(Exception):
    """A failure to report as one line, with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def fail(message: str, status: int) -> NoReturn:
    raise CommandError(message, status)


def settings_from(args: argparse.Namespace, identifier: str = "paywatch") -> Settings:
    """Load the config and set up logging; `identifier` is the journal's SYSLOG_IDENTIFIER."""
    from shared.logging import configure

    settings = load_settings(args.config)
    configure(settings.logging.level, settings.logging.format, identifier=identifier)
    return settings


def open_database(settings: Settings, *, migrate_fresh_sqlite: bool = True) -> Database:
    """Check the schema (a brand-new SQLite file migrates itself) and open the engines."""
    from shared.store.engine import Database
    from shared.store.migrate import SchemaError, ensure_schema

    try:
        ensure_schema(settings.database_url, migrate_fresh_sqlite=migrate_fresh_sqlite)
    except SchemaError as exc:
        fail(str(exc), EX_CONFIG)
    return Database.open(settings.database_url)


# --- commands -----------------------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace) -> int:
    from watcher.daemon import Watcher

    settings = settings_from(args, "paywatch-watcher")
    db = open_database(settings)

    async def main() -> None:
        stop = asyncio.Event()
        _on_signals(stop.set)
        try:
            await Watcher(settings, db).run(stop)
        finally:
            await db.close()

    _run_daemon(main(), f"metrics on {settings.watcher.metrics_host}:{settings.watcher.metrics_port}")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from api.app import serve

    settings = settings_from(args, "paywatch-api")
    db = open_database(settings)

    async def main() -> None:
        stop = asyncio.Event()
        _on_signals(stop.set)
        try:
            await serve(settings, db, stop)
        finally:
            await db.close()

    _run_daemon(main(), f"the API on {settings.api.host}:{settings.api.port}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Watcher and API in one process, for development (`make run`)."""
    from api.app import serve
    from watcher.daemon import Watcher

    settings = settings_from(args)
    db = open_database(settings)

    def listening(url: str) -> None:  # the real URL, also when the configured port is 0
        print(f"paywatch: API on {url}  (watcher following {settings.network.horizon_urls[0]})")
        print("paywatch: try it with the API key `paywatch init` printed, in $KEY:")
        body = '{"order_id": "42", "amount": "25", "currency": "XLM"}'
        print(
            f'  curl -s -X POST {url}/payments/initiate -H "Authorization: Bearer $KEY" '
            f"-H 'Content-Type: application/json' -d '{body}'"
        )
        sys.stdout.flush()

    async def main() -> None:
        stop = asyncio.Event()
        _on_signals(stop.set)
        try:
            await asyncio.gather(
                Watcher(settings, db).run(stop), serve(settings, db, stop, on_listening=listening)
            )
        finally:
            await db.close()

    _run_daemon(main(), f"the API on {settings.api.host}:{settings.api.port} or the watcher's metrics port")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.store.migrate import upgrade

    settings = load_settings(args.config)
    revision = upgrade(settings.database_url)
    print(f"paywatch: schema is at revision {revision}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from paywatch.init import write_initial_config

    return write_initial_config(args)


def cmd_apikey(args: argparse.Namespace) -> int:
    from paywatch.keys import run_apikey

    settings = load_settings(args.config)
    open_database(settings)
    return run_apikey(settings, args)


def cmd_status(args: argparse.Namespace) -> int:
    from paywatch.status import print_status

    settings = load_settings(args.config)
    open_database(settings, migrate_fresh_sqlite=False)
    return print_status(settings, as_json=args.json)


def parse_since(text: str) -> datetime:
    """`--since`: an RFC 3339 time (`2026-11-26T10:00:00Z`) or a duration back from now (`90m`, `24h`, `7d`)."""
    from datetime import UTC, timedelta

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an RFC 3339 time nor a duration like 24h"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time zone, e.g. 2026-11-26T10:00:00Z")
    return moment


def cmd_reconcile(args: argparse.Namespace) -> int:
    from shared.apply import context_from_settings
    from shared.domain.amounts import format_amount
    from watcher.reconcile import run_reconcile

    settings = settings_from(args)
    db = open_database(settings, migrate_fresh_sqlite=False)

    async def main() -> int:
        try:
            report = await run_reconcile(
                db,
                settings.network.horizon_urls,
                context_from_settings(settings),
                accounts=settings.account_addresses,
                since=args.since,
                repair=args.repair,
            )
        finally:
            await db.close()
        for finding in report.findings:
            print(finding.line())
        for payment_id, stored, summed in report.inconsistent:
            print(
                f"inconsistent: payment {payment_id} has amount_received {format_amount(stored)} but its "
                f"accepted and late receipts sum to {format_amount(summed)} (fix by hand)"
            )
        missing = sum(1 for f in report.findings if f.kind == "missing")
        differs = sum(1 for f in report.findings if f.kind == "differs")
        repaired = sum(1 for f in report.findings if f.repaired)
        print(
            f"paywatch: reconciled {report.operations} crediting operations on {report.accounts} accounts: "
            f"{missing} missing ({repaired} repaired), {differs} recorded differently"
        )
        return 0 if report.clean else EX_DISCREPANCIES

    return asyncio.run(main())


def cmd_devnet(args: argparse.Namespace) -> int:
    from devnet.main import run

    return asyncio.run(run(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from paywatch.demo import run_demo

    return run_demo(args)


def _run_daemon(main: Coroutine[Any, Any, None], listening: str) -> None:
    """asyncio.run; a port that cannot be bound is one line and EX_OSERR, not a traceback."""
    try:
        asyncio.run(main)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            fail(f"cannot listen for {listening}: {exc.strerror}", EX_OSERR)
        raise


# --- parsing ------------------------------------------------------------------------------------


def _on_signals(callback: Callable[[], None]) -> None:
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, callback)


def build_parser() -> argparse.ArgumentParser:
    from paywatch import __version__

    parser = argparse.ArgumentParser(
        prog="paywatch",
        description="A self-hosted Stellar payment watcher: payments API, Horizon watcher, signed webhooks.",
    )
    parser.add_argument("--version", action="version", version=f"paywatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def config_option(parser: argparse.ArgumentParser, **extra: Any) -> None:
        parser.add_argument(
            "--config",
            metavar="PATH",
            help="config file (default: $PAYWATCH_CONFIG, else /etc/paywatch/config.toml if it exists, "
            "else ./paywatch.toml)",
            **extra,
        )

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        config_option(sub)
        sub.set_defaults(handler=handler)
        return sub

    init = command(
        "init", cmd_init, "write a first paywatch.toml (testnet, SQLite) and print an API key once"
    )
    init.add_argument("--account", metavar="G…", help="receiving account (default: a new testnet keypair)")
    init.add_argument("--force", action="store_true", help="overwrite an existing config file")
    command("watch", cmd_watch, "run the watcher daemon (systemd Type=notify)")
    command("api", cmd_api, "run the HTTP API (systemd Type=notify)")
    command("run", cmd_run, "run the watcher and the API together in one process (development)")
    command("migrate", cmd_migrate, "bring the database schema up to date")

    apikey = command("apikey", cmd_apikey, "manage API keys (create, list, revoke)")
    actions = apikey.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key; it is printed once, only its hash is stored")
    create.add_argument("--name", required=True, help="what the key is for")
    create.add_argument(
        "--scopes",
        default="payments:read,payments:write",
        help="comma-separated: payments:read, payments:write, events:read, webhooks:manage, admin "
        "(default: payments:read,payments:write)",
    )
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    for action in (create, listing, revoke):
        # `paywatch apikey create --config X` as well as `paywatch apikey --config X create`.
        config_option(action, default=argparse.SUPPRESS)

    status = command(
        "status", cmd_status, "show the watcher's state from the store (like GET /payments/monitor/status)"
    )
    status.add_argument("--json", action="store_true", help="print JSON")

    reconcile = command(
        "reconcile",
        cmd_reconcile,
        "re-read Horizon history for every receiving account and report (or --repair) what the store lacks",
    )
    reconcile.add_argument(
        "--since",
        type=parse_since,
        required=True,
        metavar="WHEN",
        help="start of the range: an RFC 3339 time (2026-11-26T10:00:00Z) or a duration back from now (24h, 7d)",
    )
    reconcile.add_argument(
        "--repair",
        action="store_true",
        help="record missing operations through the normal path (an operation the store records "
        "differently is only reported: fix it by hand)",
    )
    reconcile.epilog = (
        "Exit status: 0 when the store matches Horizon (or everything was repaired) and every payment's "
        "amount_received is the sum of its receipts, 3 otherwise."
    )
    devnet = command(
        "devnet", cmd_devnet, "run the local Horizon-compatible network (tests, demo, benchmarks)"
    )
    from devnet.main import add_arguments

    add_arguments(devnet)
    demo = command(
        "demo",
        cmd_demo,
        "offline end-to-end story: a local devnet, the watcher, the API and a webhook receiver; "
        "creates a payment, pays it with a signed transaction, shows each step (--config is ignored)",
    )
    demo.add_argument(
        "--timeout", type=float, default=60.0, help="seconds allowed for each step (default: 60)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except ConfigError as exc:
        print(f"paywatch: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except CommandError as exc:
        print(f"paywatch: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
