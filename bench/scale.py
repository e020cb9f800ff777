"""Scale: the watcher's memory and CPU with many pending payments, and Horizon requests per hour.

    python -m bench.scale [--payments 100000] [--destinations 1000] [--idle-seconds 30]
                          [--rate 200] [--load-seconds 30] [--backends sqlite,postgresql]
                          [--budget-destinations 10,1000,10000] [--budget-payments 1000,100000]
                          [--ledger-seconds 5] [--window 60]

Resources: `paywatch watch` runs as its own process (as deployed, production log level) on a store
holding `--payments` pending payments over `--destinations` receiving accounts; a paced stream in
another process (bench/peer.py) is silent first (idle), then sends `--rate` crediting operations per
second (load). RSS and CPU time are read from /proc for the watcher's process only.

Requests: an in-process watcher in `auto` mode (budget 3,600/hour, as public Horizon) against a
devnet closing a ledger every `--ledger-seconds`; the devnet counts what it charges to the budget
(REST requests and one per ledger per open stream, as Horizon does) over `--window` seconds, scaled
to an hour. One stream per payment — the design paywatch replaces — would cost one single-account
stream's measured rate times the number of pending payments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from stellar_sdk import Keypair

from bench import corpus as corpus_module
from bench.common import log_to_file, table, write_result
from bench.corpus import Corpus, PendingPayment
from bench.peer import PeerProcess
from bench.setup import (
    config_toml,
    database,
    free_port,
    load_payments,
    paywatch_process,
    position_streams,
    settings,
    wait_answering,
)
from devnet import DevNet, serve
from devnet.client import DevnetClient
from shared.config import WatcherSettings
from shared.domain.references import new_reference
from shared.store import streams as stream_store
from shared.store.engine import Database
from watcher.daemon import Watcher

CLOSED_AT = "2026-11-26T12:00:00Z"
BUDGET = 3600
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = round(int(rest.split()[0]) / 1024, 1)
    return values


def pool(payments: int, destinations: int) -> Corpus:
    rng = random.Random(3)
    dests = [Keypair.random().public_key for _ in range(destinations)]
    return Corpus(
        dests,
        Keypair.random().public_key,
        [
            PendingPayment(rng.choice(dests), new_reference(), rng.randint(1, 10_000) * 10_000_000, "XLM")
            for _ in range(payments)
        ],
    )


# -- resources -------------------------------------------------------------------------------------


async def cursor_of(db: Database) -> int:
    async with db.read() as conn:
        rows = await stream_store.rows_by_key(conn, ["network"])
    return int(rows["network"].cursor) if "network" in rows else 0


async def resources(
    backend: str, corpus: Corpus, *, idle_seconds: float, rate: float, load_seconds: float
) -> dict[str, Any]:
    frames = corpus.sse()
    last = frames[-1][0]
    peer = PeerProcess(frames, rate, CLOSED_AT)
    try:
        async with database(backend) as url:
            db = Database.open(url)
            await load_payments(db, corpus)
            await position_streams(db, corpus, "network")
            metrics_port = free_port()
            watcher = {"mode": "network", "metrics_port": metrics_port, "backfill_margin_seconds": 0}
            config = config_toml(url, corpus.destinations, corpus.usdc_issuer, peer.url, watcher=watcher)
            async with paywatch_process("watch", config, f"scale-{backend}") as process:
                await wait_answering(f"http://127.0.0.1:{metrics_port}/healthz", process)
                started_memory = proc_memory_mb(process.pid)
                cpu0, wall0 = proc_cpu_seconds(process.pid), time.monotonic()
                await asyncio.sleep(idle_seconds)  # measuring an idle interval
                idle_cpu = (proc_cpu_seconds(process.pid) - cpu0) / (time.monotonic() - wall0)
                idle_memory = proc_memory_mb(process.pid)
                cpu0, wall0 = proc_cpu_seconds(process.pid), time.monotonic()
                peer.start()
                deadline = wall0 + load_seconds + 120
                while await cursor_of(db) < last:
                    if process.returncode is not None or time.monotonic() > deadline:
                        raise RuntimeError("the watcher did not take in the load")
                    await asyncio.sleep(0.2)
                load_wall = time.monotonic() - wall0
                load_cpu = (proc_cpu_seconds(process.pid) - cpu0) / load_wall
                load_memory = proc_memory_mb(process.pid)
            await db.close()
    finally:
        peer.stop()
    return {
        "backend": backend,
        "payments": len(corpus.payments),
        "destinations": len(corpus.destinations),
        "rss_started_mb": started_memory["VmRSS"],
        "idle": {"cpu_percent": round(idle_cpu * 100, 1), "rss_mb": idle_memory["VmRSS"]},
        "load": {
            "operations": len(frames),
            "rate": rate,
            "seconds": round(load_wall, 1),
            "cpu_percent": round(load_cpu * 100, 1),
            "rss_mb": load_memory["VmRSS"],
            "peak_rss_mb": load_memory["VmHWM"],
        },
        "exit_status": process.returncode,
    }


# -- requests per hour -----------------------------------------------------------------------------


async def requests_per_hour(
    destinations: int, payments: int, *, mode: str, ledger_seconds: float, window: float
) -> dict[str, Any]:
    corpus = pool(payments, destinations)
    net = DevNet(ledger_interval=ledger_seconds)
    async with database("sqlite") as url, serve(net, "127.0.0.1", 0) as horizon_url:
        if mode == "accounts":  # an account stream needs the account to have a history (else 404)
            async with DevnetClient(horizon_url, net.passphrase) as client:
                for destination in corpus.destinations:
                    await client.friendbot(destination)
        net.request_counts.reset()
        db = Database.open(url)
        await load_payments(db, corpus)
        config = settings(  # production's timings (the benchmarks' default heartbeat is faster)
            url,
            corpus,
            horizon_url,
            mode=mode,
            request_budget_per_hour=BUDGET,
            backfill_margin_seconds=300,
            heartbeat_seconds=WatcherSettings().heartbeat_seconds,
        )
        watcher = Watcher(config, db)
        stop = asyncio.Event()
        started = time.monotonic()
        task = asyncio.create_task(watcher.run(stop))
        await watcher.ready.wait()
        startup_seconds = time.monotonic() - started
        startup = net.request_counts.budget_spent()
        await asyncio.sleep(window)  # measuring a rate over a fixed window
        spent = net.request_counts.spent_by_kind(seconds=window)
        chosen = watcher.mode
        stop.set()
        await task
        await db.close()
    return {
        "destinations": destinations,
        "payments": payments,
        "mode": chosen,
        "startup_requests": startup,
        "startup_seconds": round(startup_seconds, 1),
        "per_hour": round((spent["rest"] + spent["stream_iterations"]) * 3600 / window),
        "rest_per_hour": round(spent["rest"] * 3600 / window),
        "stream_per_hour": round(spent["stream_iterations"] * 3600 / window),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "payments": args.payments,
        "destinations": args.destinations,
        "rate": args.rate,
        "idle_seconds": args.idle_seconds,
        "ledger_seconds": args.ledger_seconds,
        "window": args.window,
        "resources": [],
        "requests": [],
    }
    log_to_file("scale")
    templates = await corpus_module.templates()
    operations = max(1, round(args.rate * args.load_seconds))
    corpus = corpus_module.build(
        templates, operations=operations, payments=args.payments, destinations=args.destinations
    )
    for backend in args.backends.split(","):
        measured = await resources(
            backend, corpus, idle_seconds=args.idle_seconds, rate=args.rate, load_seconds=args.load_seconds
        )
        results["resources"].append(measured)
        print(json.dumps(measured), flush=True)
    single = await requests_per_hour(
        1, 1, mode="accounts", ledger_seconds=args.ledger_seconds, window=args.window
    )
    # What one more open stream costs: the single account stream's share (REST is per process).
    results["single_stream_per_hour"] = single["stream_per_hour"]
    print(json.dumps(single), flush=True)
    for destinations in (int(d) for d in args.budget_destinations.split(",")):
        for payments in (int(p) for p in args.budget_payments.split(",")):
            measured = await requests_per_hour(
                destinations,
                max(payments, destinations),
                mode="auto",
                ledger_seconds=args.ledger_seconds,
                window=args.window,
            )
            measured["one_stream_per_payment_per_hour"] = (
                single["stream_per_hour"] * measured["payments"] + measured["rest_per_hour"]
            )
            results["requests"].append(measured)
            print(json.dumps(measured), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--destinations", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--budget-destinations", default="10,1000,10000")
    parser.add_argument("--budget-payments", default="1000,100000")
    parser.add_argument("--ledger-seconds", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=60)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    resource_rows = [
        (
            r["backend"],
            r["rss_started_mb"],
            r["idle"]["cpu_percent"],
            r["idle"]["rss_mb"],
            f"{r['load']['operations']} at {r['load']['rate']:g}/s",
            r["load"]["cpu_percent"],
            r["load"]["rss_mb"],
            r["load"]["peak_rss_mb"],
        )
        for r in result["resources"]
    ]
    request_rows = [
        (
            r["destinations"],
            r["payments"],
            r["mode"],
            r["startup_requests"],
            r["rest_per_hour"],
            r["stream_per_hour"],
            r["per_hour"],
            r["one_stream_per_payment_per_hour"],
        )
        for r in result["requests"]
    ]
    markdown = (
        f"Watcher process (`paywatch watch`), {args.payments} pending payments over {args.destinations} "
        f"destinations, network mode; idle for {args.idle_seconds:g} s, then a paced load\n\n"
        + table(
            [
                "backend",
                "RSS at start MiB",
                "idle CPU %",
                "idle RSS MiB",
                "load",
                "load CPU %",
                "load RSS MiB",
                "peak RSS MiB",
            ],
            resource_rows,
        )
        + f"\n\nHorizon requests charged to the budget, counted at the devnet over {args.window:g} s "
        f"with a ledger every {args.ledger_seconds:g} s, per hour (budget {BUDGET}/hour). An open stream "
        f"costs one per ledger; one stream per payment = {result['single_stream_per_hour']}/hour per "
        "stream (measured on a single account stream) × payments, plus the same REST requests\n\n"
        + table(
            [
                "destinations",
                "pending payments",
                "mode (auto)",
                "startup requests",
                "REST/hour",
                "stream/hour",
                "requests/hour",
                "one stream per payment, requests/hour",
            ],
            request_rows,
        )
    )
    command = (
        f"python -m bench.scale --payments {args.payments} --destinations {args.destinations} "
        f"--idle-seconds {args.idle_seconds:g} --rate {args.rate:g} --load-seconds {args.load_seconds:g} "
        f"--backends {args.backends} --budget-destinations {args.budget_destinations} "
        f"--budget-payments {args.budget_payments} --ledger-seconds {args.ledger_seconds:g} "
        f"--window {args.window:g}"
    )
    write_result("scale", result, markdown, command=command)
    print(markdown)


if __name__ == "__main__":
    main()
