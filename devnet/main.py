"""`paywatch devnet`: run the local Horizon-compatible network until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .network import DEFAULT_PASSPHRASE, DevNet
from .serve import serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)"
    )
    parser.add_argument(
        "--ledger-interval", type=float, default=5.0, help="seconds between ledger closes (default: 5)"
    )
    parser.add_argument(
        "--passphrase",
        default=DEFAULT_PASSPHRASE,
        help=f"network passphrase (default: {DEFAULT_PASSPHRASE!r})",
    )
    parser.add_argument(
        "--connection-timeout",
        type=float,
        default=55.0,
        help="seconds after which Horizon ends a stream with byebye (default: 55)",
    )
    parser.add_argument(
        "--clock-offset",
        type=float,
        default=0.0,
        help="network time minus wall-clock time, in seconds (default: 0)",
    )


async def run(args: argparse.Namespace) -> int:
    net = DevNet(
        passphrase=args.passphrase, ledger_interval=args.ledger_interval, clock_offset=args.clock_offset
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not available on every platform
            loop.add_signal_handler(signum, stop.set)
    try:
        async with serve(net, args.host, args.port, connection_timeout=args.connection_timeout) as url:
            print(f"devnet: listening on {url} passphrase={args.passphrase}", flush=True)
            await stop.wait()
    except OSError as exc:
        print(f"devnet: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devnet", description="Local Horizon-compatible Stellar network.")
    add_arguments(parser)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
