"""Latency at a steady rate: record leaves the stream server → (a) its effects are committed,
(b) the payment.confirmed webhook reaches a local receiver. Percentiles p50/p95/p99.

    python -m bench.latency [--rate 100] [--seconds 60] [--destinations 100]
                            [--backends sqlite,postgresql]

Each record pays one pending payment in full (memo or muxed), so each produces funds_received and
confirmed events; the webhook endpoint subscribes to payment.confirmed. The stream server and the
receiver run in another process (bench/peer.py); the watcher runs here with its production settings.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections.abc import Sequence
from typing import Any

from bench import corpus as corpus_module
from bench.common import log_to_file, percentile, table, write_result
from bench.corpus import Corpus
from bench.peer import PeerProcess
from bench.setup import database, load_payments, position_streams, settings
from shared.store.engine import Database
from watcher.daemon import Watcher
from watcher.streams import StreamRecord

CLOSED_AT = "2026-11-26T12:00:00Z"
SECRET = "whsec_" + base64.b64encode(b"paywatch latency benchmark key!!").decode()


def summary(values: Sequence[float]) -> dict[str, float]:
    """Milliseconds."""
    return {
        "count": len(values),
        "p50": round(percentile(values, 0.50) * 1000, 1),
        "p95": round(percentile(values, 0.95) * 1000, 1),
        "p99": round(percentile(values, 0.99) * 1000, 1),
        "max": round(max(values) * 1000, 1) if values else float("nan"),
    }


async def measure(corpus: Corpus, backend: str, rate: float) -> dict[str, Any]:
    frames = corpus.sse()
    order_of_token = {token: f"bench-{index}" for index, (token, _, _) in enumerate(corpus.records)}
    peer = PeerProcess(frames, rate, CLOSED_AT)
    committed: dict[int, float] = {}

    def on_commit(records: Sequence[StreamRecord], events: int) -> None:
        now = time.monotonic()
        for record in records:
            committed.setdefault(int(record.paging_token), now)

    try:
        async with database(backend) as url:
            db = Database.open(url)
            await load_payments(db, corpus)
            await position_streams(db, corpus, "network")
            webhook = {"url": f"{peer.url}/hook", "secret": SECRET, "events": ["payment.confirmed"]}
            config = settings(url, corpus, peer.url, webhooks=[webhook], mode="network")
            watcher = Watcher(config, db)
            stop = asyncio.Event()
            task = asyncio.create_task(watcher.run(stop))
            await watcher.ready.wait()
            watcher.ingestor.after_commit.append(on_commit)
            peer.start()
            expected = len(frames)
            deadline = time.monotonic() + expected / rate + 60
            while (
                len(committed) < expected or watcher.webhooks.settled < expected
            ) and time.monotonic() < deadline:
                if task.done():
                    task.result()
                await asyncio.sleep(0.1)
            stop.set()
            await task
            await db.close()
    finally:
        measured = peer.stop()
    sent: dict[int, float] = measured["sent"]
    received: dict[str, float] = measured["received"]
    to_commit = [committed[token] - sent[token] for token in sent if token in committed]
    to_webhook = [
        received[order_of_token[token]] - sent[token] for token in sent if order_of_token[token] in received
    ]
    return {
        "backend": backend,
        "records": len(frames),
        "committed": len(committed),
        "webhooks": measured["webhooks"],
        "stream_to_commit_ms": summary(to_commit),
        "stream_to_webhook_ms": summary(to_webhook),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    log_to_file("latency")
    operations = round(args.rate * args.seconds)
    corpus = await corpus_module.make(
        operations,
        operations,
        args.destinations,
        mix={"memo": 1, "muxed": 1},
        each_payment_once=True,
    )
    results: dict[str, Any] = {"rate": args.rate, "seconds": args.seconds, "runs": []}
    for backend in args.backends.split(","):
        measured = await measure(corpus, backend, args.rate)
        results["runs"].append(measured)
        print(json.dumps(measured), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--destinations", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    rows = []
    for r in result["runs"]:
        for path, key in (
            ("stream → committed", "stream_to_commit_ms"),
            ("stream → webhook", "stream_to_webhook_ms"),
        ):
            s = r[key]
            rows.append((r["backend"], path, s["count"], s["p50"], s["p95"], s["p99"], s["max"]))
    markdown = f"{args.rate:g} payments/s for {args.seconds:g} s (milliseconds)\n\n" + table(
        ["backend", "path", "records", "p50", "p95", "p99", "max"], rows
    )
    command = (
        f"python -m bench.latency --rate {args.rate:g} --seconds {args.seconds:g} "
        f"--destinations {args.destinations} --backends {args.backends}"
    )
    write_result("latency", result, markdown, command=command)
    print(markdown)


if __name__ == "__main__":
    main()
