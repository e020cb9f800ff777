"""Ingest: N crediting operations for M pending payments over D destinations, from the stream to the
committed state, compared with the read+parse ceiling measured in the same run.

    python -m bench.ingest [--ops 100000] [--payments 10000] [--destinations 100]
                           [--backends sqlite,postgresql] [--modes accounts,network]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from bench import corpus as corpus_module
from bench.ceiling import read_and_parse
from bench.common import log_to_file, table, write_result
from bench.corpus import Corpus
from bench.setup import database, load_payments, position_streams, settings
from bench.stream_server import StreamServer, serving, streams_for
from shared.store import payments as payment_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from watcher.daemon import Watcher
from watcher.streams import StreamRecord


async def ingest(corpus: Corpus, backend: str, mode: str) -> dict[str, Any]:
    last = corpus.records[-1][0]
    server = StreamServer(
        streams_for(corpus, mode), latest_ledger=last >> 32, closed_at="2026-11-26T12:00:00Z"
    )
    if mode == "network":
        targets = {"network": last}
    else:
        targets = {}
        for token, destination, _ in corpus.records:
            targets[f"account:{destination}"] = token
    async with database(backend) as url, serving(server) as horizon_url:
        db = Database.open(url)
        await load_payments(db, corpus)
        await position_streams(db, corpus, mode)
        watcher = Watcher(settings(url, corpus, horizon_url, mode=mode), db)
        stop, done = asyncio.Event(), asyncio.Event()
        left = dict(targets)  # stream → the last token it must commit

        def on_commit(records: Sequence[StreamRecord], events: int) -> None:
            for record in records:
                if record.stream in left and int(record.paging_token) >= left[record.stream]:
                    del left[record.stream]
            if not left:
                done.set()

        task = asyncio.create_task(watcher.run(stop))
        await watcher.ready.wait()
        watcher.ingestor.after_commit.append(on_commit)
        started = time.perf_counter()
        async with db.read() as conn:  # anything committed before the hook was in place
            for key, row in (await stream_store.rows_by_key(conn, list(left))).items():
                # on_commit may have removed the key while this read awaited
                if key in left and int(row.cursor) >= left[key]:
                    del left[key]
        if not left:
            done.set()
        finished = asyncio.create_task(done.wait())
        await asyncio.wait([task, finished], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
            raise RuntimeError("the watcher stopped before catching up")
        seconds = time.perf_counter() - started
        stop.set()
        await task
        async with db.read() as conn:
            counts = await payment_store.count_by_status(conn)
        await db.close()
    return {
        "seconds": round(seconds, 2),
        "ops_per_second": round(len(corpus.records) / seconds),
        "statuses": counts,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    log_to_file("ingest", args.log_level)
    corpus = await corpus_module.make(args.ops, args.payments, args.destinations)
    last = corpus.records[-1][0]
    server = StreamServer(
        streams_for(corpus, "network"), latest_ledger=last >> 32, closed_at="2026-11-26T12:00:00Z"
    )
    async with serving(server) as url:
        parsed, seconds = await read_and_parse(url, last)
    ceiling = parsed / seconds
    results: dict[str, Any] = {
        "ops": args.ops,
        "payments": args.payments,
        "destinations": args.destinations,
        "ceiling": round(ceiling),
        "log_level": args.log_level,
        "runs": [],
    }
    for backend in args.backends.split(","):
        for mode in args.modes.split(","):
            measured = await ingest(corpus, backend, mode)
            measured.update(backend=backend, mode=mode, ratio=round(measured["ops_per_second"] / ceiling, 3))
            results["runs"].append(measured)
            print(json.dumps(measured), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--destinations", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--modes", default="accounts,network")
    parser.add_argument("--log-level", default="info", help="the watcher's log level (production: info)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    rows = [
        (r["backend"], r["mode"], r["ops_per_second"], f"{r['ratio']:.0%}", r["seconds"])
        for r in result["runs"]
    ]
    markdown = f"Read + parse ceiling: {result['ceiling']} records/s\n\n" + table(
        ["backend", "mode", "operations/s", "of ceiling", "seconds"], rows
    )
    command = (
        f"python -m bench.ingest --ops {args.ops} --payments {args.payments} --destinations {args.destinations} "
        f"--backends {args.backends} --modes {args.modes} --log-level {args.log_level}"
    )
    write_result("ingest", result, markdown, command=command)
    print(markdown)


if __name__ == "__main__":
    main()
