"""Hostile Horizon input: random, truncated and malicious bytes through the SSE parser, the stream
reader, the record parser and the ingestor (with a real store and a devnet as Horizon).

Properties: nothing but the documented errors escapes (the watcher does not crash); the cursor
only moves to a record that was handled (a receipt, or a poison record kept for review); a
malformed record never becomes a receipt.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stellar_sdk import Keypair

from shared.apply import context_from_settings
from shared.domain.amounts import MAX_STROOPS
from shared.domain.strkeys import is_account_id
from shared.stellar.horizon import HorizonClient
from shared.stellar.records import RecordError, is_paging_token, parse_credits
from shared.stellar.sse import SSEError, SSEEvent, SSEParser
from shared.store import receipts as receipt_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from tests import fuzz_horizon_bytes
from tests.conftest import fixtures_dir, make_settings
from tests.served import BackgroundLoop, background_loop
from tests.support import devnet_network
from watcher.ingest import Ingestor
from watcher.streams import StreamReader, StreamRecord

ACCOUNT = Keypair.random().public_key
PAYER = Keypair.random().public_key
STREAM = f"account:{ACCOUNT}"
# Examples per property: CI-sized by default; `make fuzz` raises it (docs/security.md).
EXAMPLES = int(os.environ.get("PAYWATCH_HORIZON_FUZZ_EXAMPLES", "60"))
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# --- the SSE parser ------------------------------------------------------------------------------

sse_lines = st.sampled_from(
    [
        b"id: 12884905985\n",
        b"id: \xb2\n",  # '²': a digit to str.isdigit(), not to int()
        b"id: 99999999999999999999999999\n",
        b"id: -1\n",
        b"id\n",
        b"event: open\n",
        b"event: error\n",
        b'data: {"id":\n',
        b"data: \x00\xff\xfe\n",
        b"retry: 99999999999999999999\n",
        b"retry: x\n",
        b": comment\n",
        b"\n",
        b"\r\n",
        b"\r",
        b"data",
    ]
)


@given(
    st.lists(sse_lines | st.binary(max_size=40), max_size=40).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
@FUZZ
def test_the_sse_parser_takes_any_bytes(data: bytes, cuts: list[int]) -> None:
    parser = SSEParser()
    events: list[SSEEvent] = []
    positions = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    for start, end in itertools.pairwise(positions):
        events += parser.feed(data[start:end])  # SSEError is the only error it may raise (endless lines)
    for event in events:
        assert isinstance(event.event, str)
        assert isinstance(event.data, str)
        assert event.id is None or "\0" not in event.id
    dispatches = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n\n")
    assert len(events) <= dispatches + 1


def test_an_endless_line_is_an_sse_error_not_unbounded_memory() -> None:
    parser = SSEParser()
    for _ in range(4):
        list(parser.feed(b"x" * (1024 * 1024)))
    with pytest.raises(SSEError):
        list(parser.feed(b"x" * (1024 * 1024)))


def test_the_atheris_harness_runs_on_its_seeds_and_hostile_bytes() -> None:
    """`make fuzz-atheris` drives `one_input` with libFuzzer; here it runs on the real fixtures'
    bytes (credits come out of them) and on inputs that must be refused without an exception."""
    fixtures_dir()
    seeds = list(fuzz_horizon_bytes.seeds())
    assert len(seeds) >= 10
    assert sum(fuzz_horizon_bytes.one_input(seed) for seed in seeds) >= 5
    for seed in seeds:
        for cut in (1, len(seed) // 2, len(seed) - 1):
            fuzz_horizon_bytes.one_input(seed[:cut])  # truncated: refused or fewer credits, no crash
    hostile = [b"", b"\xff" * 70, b"data: [" * 2000 + b"\n\n", b"data: " + b"[" * 100_000 + b"\n\n"]
    assert [fuzz_horizon_bytes.one_input(data) for data in hostile] == [0, 0, 0, 0]


# --- the stream reader: which ids may become a cursor --------------------------------------------

event_ids = st.one_of(
    st.integers(min_value=1, max_value=2**63 - 1).map(str),
    st.sampled_from(["²", "١٢", "-5", "+5", " 5", "5 ", "0x10", "", "9" * 19, "9" * 30, "12a", "0"]),
    st.text(max_size=25),
    st.none(),
)


class ScriptedHorizon(HorizonClient):
    """A Horizon client whose one stream connection yields the given events (the reader's input)."""

    def __init__(self, events: list[SSEEvent]) -> None:
        self.events = events

    async def stream(  # type: ignore[override]
        self, path: str, params: Any, *, last_event_id: str | None, silence_timeout: float
    ) -> AsyncGenerator[SSEEvent, None]:
        for event in self.events:
            yield event


@given(st.lists(st.tuples(st.sampled_from(["message", "open"]), event_ids), max_size=30))
@FUZZ
def test_the_stream_reader_hands_over_only_increasing_int64_ids(script: list[tuple[str, str | None]]) -> None:
    events = [SSEEvent(kind, '{"x":1}', event_id) for kind, event_id in script]

    async def consume() -> tuple[list[StreamRecord], str]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        reader = StreamReader("s", "/payments", ScriptedHorizon(events), queue, "100", silence_timeout=1)
        await reader._connection()
        return [queue.get_nowait() for _ in range(queue.qsize())], reader.cursor

    records, cursor = asyncio.run(consume())
    tokens = [record.paging_token for record in records]
    assert all(is_paging_token(token) for token in tokens)
    assert [int(t) for t in tokens] == sorted({int(t) for t in tokens})
    assert all(int(t) > 100 for t in tokens)
    assert cursor == (tokens[-1] if tokens else "100")


# --- the record parser ---------------------------------------------------------------------------


def payment_record(
    token: int, amount: str = "1.0000000", memo: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An operation record as Horizon streams it with join=transactions (a payment to ACCOUNT)."""
    tx_hash = f"{token:064x}"
    return {
        "id": str(token),
        "paging_token": str(token),
        "transaction_successful": True,
        "source_account": PAYER,
        "type": "payment",
        "type_i": 1,
        "created_at": "2026-11-26T17:40:02Z",
        "transaction_hash": tx_hash,
        "asset_type": "native",
        "from": PAYER,
        "to": ACCOUNT,
        "amount": amount,
        "transaction": {
            "hash": tx_hash,
            "ledger": token >> 32,
            "successful": True,
            **(memo or {"memo_type": "none"}),
        },
    }


REQUIRED = ["id", "paging_token", "transaction_successful", "created_at", "transaction_hash", "to", "amount"]
INVALID = {
    "amount": st.sampled_from(
        ["1.00000001", "-1.0000000", "1e3", "NaN", "922337203685.4775808", "", " 1.0000000", "1,0000000"]
    )
    | st.floats()
    | st.integers(),
    "to": st.sampled_from([ACCOUNT[:-1] + ("A" if ACCOUNT[-1] != "A" else "B"), ACCOUNT.lower(), "G", ""])
    | st.integers(),
    "transaction_hash": st.sampled_from(["AB" * 32, "ab" * 31, "zz" * 32, ""]) | st.none(),
    "created_at": st.sampled_from(["2026-11-26T17:40:02", "2026-13-26T17:40:02Z", "yesterday", ""]),
    "transaction_successful": st.sampled_from(["true", 1, None]),
    "id": st.sampled_from(["²", "-1", "99999999999999999999", "", "1.5"]),
}


@st.composite
def malformed_records(draw: st.DrawFn, token: int) -> str:
    """A record for `token` that Horizon could not have sent: no receipt may come of it."""
    valid = payment_record(token)
    kind = draw(st.sampled_from(["truncated", "garbage", "deep", "field", "missing", "ledger", "memo"]))
    if kind == "truncated":
        text = json.dumps(valid)
        return text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
    if kind == "garbage":
        return draw(st.binary(max_size=200)).decode("utf-8", errors="replace")
    if kind == "deep":  # deeper than the interpreter's recursion limit
        depth = draw(st.integers(min_value=50_000, max_value=200_000))
        return "[" * depth + "]" * draw(st.sampled_from([0, depth]))
    if kind == "field":
        key = draw(st.sampled_from(sorted(INVALID)))
        valid[key] = draw(INVALID[key])
    elif kind == "missing":
        del valid[draw(st.sampled_from(REQUIRED))]
    elif kind == "ledger":
        valid["transaction"]["ledger"] = draw(st.sampled_from([2**32, 2**63, -1, 0, True, "7", 1.5]))
    else:
        valid["transaction"].update(
            draw(
                st.sampled_from(
                    [
                        {"memo_type": "id", "memo": "18446744073709551616"},
                        {"memo_type": "id", "memo": "-1"},
                        {"memo_type": "id", "memo": 5},
                        {"memo_type": "text", "memo_bytes": "not base64!"},
                        {"memo_type": "hash", "memo": "AAAA"},
                        {"memo_type": "bogus"},
                    ]
                )
            )
        )
    return json.dumps(valid)


@given(st.integers(min_value=1, max_value=2**40).flatmap(malformed_records), json_values)
@FUZZ
def test_the_record_parser_refuses_malformed_records(text: str, extra: Any) -> None:
    """Only RecordError (or the JSON error before it) comes out, never a credit."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return
    if isinstance(record, dict):
        record["_links"] = extra  # unknown keys change nothing
    with pytest.raises(RecordError):
        parse_credits(record, record.get("transaction") if isinstance(record, dict) else None)


@given(
    st.dictionaries(st.sampled_from([*REQUIRED, "type", "from", "to_muxed_id", "asset_type"]), json_values)
)
@FUZZ
def test_the_record_parser_takes_any_json(overrides: dict[str, Any]) -> None:
    record = {**payment_record(77 << 32), **overrides}
    try:
        credits = parse_credits(record, record["transaction"])
    except RecordError:
        return
    for credit in credits:  # whatever it accepted is well-formed
        assert is_account_id(credit.destination)
        assert is_paging_token(credit.operation_id)
        assert credit.amount is None or 0 < credit.amount <= MAX_STROOPS
        assert credit.muxed_id is None or 0 <= credit.muxed_id < 2**64


# --- the ingestor: a real store, a devnet as Horizon ---------------------------------------------


@dataclass
class IngestRig:
    background: BackgroundLoop
    db: Database
    ingestor: Ingestor
    tokens: Iterator[int]


@asynccontextmanager
async def ingesting(db_url: str) -> AsyncIterator[tuple[Database, Ingestor]]:
    """An ingestor for one account stream, on a real store, with a devnet as its Horizon."""
    async with devnet_network() as network, aiohttp.ClientSession() as session:
        db = Database.open(db_url)
        try:
            context = context_from_settings(make_settings(db_url, [ACCOUNT], horizon_url=network.url))
            async with db.write() as conn:
                await stream_store.create_stream(conn, STREAM, "0", context.now())
            horizon = HorizonClient([network.url], session)
            yield db, Ingestor(db, context, horizon, asyncio.Queue(), lambda _stream: {ACCOUNT})
        finally:
            await db.close()


@pytest.fixture
def rig(db_url: str) -> Iterator[IngestRig]:
    with background_loop() as background, ExitStack() as stack:
        db, ingestor = background.enter(ingesting(db_url), stack)
        yield IngestRig(background, db, ingestor, itertools.count(1 << 32, 4096))


@given(data=st.data())
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES // 2)
def test_malformed_records_become_poison_and_the_cursor_moves_only_past_handled_ones(
    rig: IngestRig, data: st.DataObject
) -> None:
    kinds = data.draw(st.lists(st.booleans(), min_size=1, max_size=8), label="valid?")
    batch: list[StreamRecord] = []
    valid: list[str] = []
    malformed: list[str] = []
    for is_valid in kinds:
        token = next(rig.tokens)
        text = json.dumps(payment_record(token)) if is_valid else data.draw(malformed_records(token))
        batch.append(StreamRecord(STREAM, str(token), text))
        (valid if is_valid else malformed).append(str(token))

    async def ingest() -> tuple[str, set[str], set[str]]:
        await rig.ingestor.apply_batch(batch)  # must not raise, whatever the records are
        async with rig.db.read() as conn:
            stream = await stream_store.get_stream(conn, STREAM)
            poison = await receipt_store.poison_tokens(conn, STREAM)
            receipts = await receipt_store.list_receipts(conn, limit=100_000)
        assert stream is not None
        return stream.cursor, poison, {r.operation_id for r in receipts}

    cursor, poison, receipted = rig.background.run(ingest())
    assert cursor == batch[-1].paging_token  # every record was handled: a receipt or a poison record
    assert set(valid) <= receipted
    assert not set(valid) & poison
    assert set(malformed) <= poison, "a malformed record was not kept for review"
    assert not set(malformed) & receipted, "a malformed record became a receipt"


@pytest.mark.parametrize("text", ["l\x00", '{"id": "\x00"}', "\x00" * 10])
def test_a_nul_in_a_malformed_record_is_kept_too(rig: IngestRig, text: str) -> None:
    """Found by the long run: PostgreSQL text cannot hold a NUL, and the batch was retried for ever."""
    token = str(next(rig.tokens))

    async def ingest() -> set[str]:
        await asyncio.wait_for(rig.ingestor.apply_batch([StreamRecord(STREAM, token, text)]), 30)
        async with rig.db.read() as conn:
            return await receipt_store.poison_tokens(conn, STREAM)

    assert token in rig.background.run(ingest())
