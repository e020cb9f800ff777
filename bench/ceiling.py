"""Ceilings measured on this machine: read + JSON-parse the ingest stream, and raw receipt inserts.

python -m bench.ceiling [--ops 100000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp

from bench import corpus as corpus_module
from bench.common import table, write_result
from bench.setup import database
from bench.stream_server import StreamServer, serving, streams_for
from shared import jsontext
from shared.clock import utcnow
from shared.stellar.horizon import HorizonClient
from shared.store.engine import Database
from shared.store.schema import receipts


async def read_and_parse(url: str, last: int) -> tuple[int, float]:
    """Like the watcher's reader, minus everything it does with a record: connect, parse, reconnect."""
    parsed = 0
    cursor = "0"
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        horizon = HorizonClient([url], session)
        while int(cursor) < last:
            params = {"cursor": cursor, "limit": "200", "order": "asc", "join": "transactions"}
            async for event in horizon.stream("/payments", params, last_event_id=cursor, silence_timeout=30):
                if event.event == "close":
                    break
                if event.id is None:
                    continue
                record: Any = jsontext.loads(event.data)
                parsed += record["paging_token"] == event.id
                cursor = event.id
                if int(cursor) >= last:
                    break
    return parsed, time.perf_counter() - started


async def insert_rate(backend: str, rows: int, batch: int = 1000) -> float:
    """Receipt rows per second in batched transactions (executemany), nothing else."""
    async with database(backend) as url:
        db = Database.open(url)
        now = utcnow()
        template = {
            "part": 0,
            "operation_type": "payment",
            "disposition": "unmatched",
            "destination": "G" * 56,
            "source": "G" * 56,
            "amount": 10_000_000,
            "asset_code": "XLM",
            "memo_type": "none",
            "transaction_hash": "a" * 64,
            "ledger": 1,
            "closed_at": now,
            "recorded_at": now,
        }
        started = time.perf_counter()
        for start in range(0, rows, batch):
            async with db.write() as conn:
                await conn.execute(
                    receipts.insert(),
                    [{**template, "operation_id": str(i)} for i in range(start, start + batch)],
                )
        elapsed = time.perf_counter() - started
        await db.close()
    return rows / elapsed


async def measure(ops: int, backends: list[str]) -> dict[str, Any]:
    corpus = await corpus_module.make(ops, max(1, ops // 10), 100)
    last = corpus.records[-1][0]
    server = StreamServer(
        streams_for(corpus, "network"), latest_ledger=last >> 32, closed_at="2026-11-26T12:00:00Z"
    )
    async with serving(server) as url:
        parsed, seconds = await read_and_parse(url, last)
    assert parsed == ops, (parsed, ops)
    result: dict[str, Any] = {
        "ops": ops,
        "read_parse_per_second": round(ops / seconds),
        "connections": server.connections,
    }
    for backend in backends:
        result[f"insert_per_second_{backend}"] = round(await insert_rate(backend, min(ops, 50_000)))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.ops, args.backends.split(",")))
    rows = [("read + JSON-parse the stream (records/s)", result["read_parse_per_second"])]
    rows += [
        (f"receipt inserts, batches of 1000 ({b}) (rows/s)", result[f"insert_per_second_{b}"])
        for b in args.backends.split(",")
    ]
    write_result(
        "ceiling",
        result,
        table(["ceiling", "value"], rows),
        command=f"python -m bench.ceiling --ops {args.ops}",
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
