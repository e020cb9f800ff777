"""API under load: `GET /payments/{id}` and `POST /payments/initiate`, requests/s and latency.

    python -m bench.api [--seconds 10] [--concurrency 8,32] [--payments 10000]
                        [--backends sqlite,postgresql]

`paywatch api` runs as its own process (as deployed: one process, production log level), on a
store holding `--payments` pending payments; an aiohttp client in this process keeps each of the
`--concurrency` levels of requests in flight for `--seconds` per endpoint. Latency is measured at
the client; with N requests always in flight it is about N / throughput (Little's law), so each
level is reported: a few in flight shows the latency of one request, many show the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from stellar_sdk import Keypair

from bench.common import percentile, table, write_result
from bench.corpus import Corpus, PendingPayment
from bench.setup import config_toml, database, free_port, load_payments, paywatch_process, wait_answering
from paywatch.keys import create_key
from shared.domain.references import new_reference
from shared.store.engine import Database

Request = Callable[[aiohttp.ClientSession, int], Awaitable[int]]  # → HTTP status


def fixture(payments: int, destinations: int = 10) -> Corpus:
    rng = random.Random(7)
    dests = [Keypair.random().public_key for _ in range(destinations)]
    pool = [
        PendingPayment(rng.choice(dests), new_reference(), rng.randint(1, 10_000) * 10_000_000, "USDC")
        for _ in range(payments)
    ]
    return Corpus(dests, Keypair.random().public_key, pool)


async def load(
    session: aiohttp.ClientSession, request: Request, *, seconds: float, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status = await request(session, next(counter))
            latencies.append(time.perf_counter() - started)
            if status >= 300:
                errors[status] = errors.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / elapsed),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "errors": errors,
    }


async def measure(backend: str, corpus: Corpus, *, seconds: float, levels: list[int]) -> dict[str, Any]:
    ids = [f"pay_bench{index:020d}" for index in range(len(corpus.payments))]
    async with database(backend) as url:
        db = Database.open(url)
        await load_payments(db, corpus)
        key = await create_key(db, "bench", ("payments:read", "payments:write"))
        await db.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = config_toml(url, corpus.destinations, corpus.usdc_issuer, base, api_port=port)
        async with paywatch_process("api", config, f"api-{backend}") as process:
            await wait_answering(f"{base}/readyz", process)
            headers = {"Authorization": f"Bearer {key}"}
            connector = aiohttp.TCPConnector(limit=max(levels))
            async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
                rng = random.Random(1)

                async def get(session: aiohttp.ClientSession, _: int) -> int:
                    async with session.get(f"{base}/payments/{rng.choice(ids)}") as response:
                        await response.read()
                        return response.status

                async def initiate(session: aiohttp.ClientSession, number: int) -> int:
                    body = {"order_id": f"load-{number}", "amount": "25", "currency": "USDC"}
                    async with session.post(f"{base}/payments/initiate", json=body) as response:
                        await response.read()
                        return response.status

                await load(session, get, seconds=min(2.0, seconds), concurrency=max(levels))  # warm-up
                result: dict[str, Any] = {"backend": backend, "levels": []}
                for concurrency in levels:
                    result["levels"].append(
                        {
                            "concurrency": concurrency,
                            "get": await load(session, get, seconds=seconds, concurrency=concurrency),
                            "initiate": await load(
                                session, initiate, seconds=seconds, concurrency=concurrency
                            ),
                        }
                    )
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus = fixture(args.payments)
    results: dict[str, Any] = {
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "payments": args.payments,
        "runs": [],
    }
    for backend in args.backends.split(","):
        levels = [int(level) for level in args.concurrency.split(",")]
        measured = await measure(backend, corpus, seconds=args.seconds, levels=levels)
        results["runs"].append(measured)
        print(json.dumps(measured), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="8,32", help="requests in flight; several levels: 8,32")
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    rows = [
        (
            r["backend"],
            name,
            level["concurrency"],
            level[key]["per_second"],
            level[key]["p50_ms"],
            level[key]["p99_ms"],
            level[key]["errors"] or "none",
        )
        for r in result["runs"]
        for name, key in (("GET /payments/{id}", "get"), ("POST /payments/initiate", "initiate"))
        for level in r["levels"]
    ]
    markdown = f"{args.seconds:g} s per endpoint and level, {args.payments} payments stored\n\n" + table(
        ["backend", "request", "in flight", "requests/s", "p50 ms", "p99 ms", "non-2xx"], rows
    )
    command = (
        f"python -m bench.api --seconds {args.seconds:g} --concurrency {args.concurrency} "
        f"--payments {args.payments} --backends {args.backends}"
    )
    write_result("api", result, markdown, command=command)
    print(markdown)


if __name__ == "__main__":
    main()
