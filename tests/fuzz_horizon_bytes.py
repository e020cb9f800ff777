"""Coverage-guided fuzzing (atheris/libFuzzer) of what Horizon's bytes go through in the watcher:
SSE framing, JSON, then the record parser — the path of `watcher/ingest.py`, without the store.

`one_input(data)` is plain Python: `tests/test_fuzz_horizon.py` runs it over the seed corpus in
`make test`; `make fuzz-atheris` installs atheris and lets libFuzzer drive it through
`tests/fuzz_atheris.py` (docs/security.md).

A crash is any exception but the documented ones (SSEError for the framing; ValueError,
RecordError and RecursionError for a record, which the ingestor keeps as a poison receipt), or a
credit that breaks the money invariants.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from shared.domain.amounts import MAX_STROOPS
from shared.domain.strkeys import is_account_id
from shared.stellar.records import is_paging_token, parse_streamed
from shared.stellar.sse import SSEError, SSEParser
from watcher.ingest import MALFORMED

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "horizon-fixtures"


def one_input(data: bytes) -> int:
    """Feed `data` as an SSE stream cut into two chunks; return how many credits came out."""
    cut = data[0] * 7 % (len(data) + 1) if data else 0
    parser = SSEParser()
    try:
        events = [*parser.feed(data[:cut]), *parser.feed(data[cut:])]
    except SSEError:
        return 0
    credits = 0
    for event in events:
        # What the stream reader hands over (a message whose id can be a cursor), parsed as the
        # ingestor parses it.
        if event.event != "message" or not is_paging_token(event.id):
            continue
        try:
            found = parse_streamed(event.data, event.id).credits
        except MALFORMED:
            continue
        for credit in found:
            assert credit.amount is None or (type(credit.amount) is int and 0 < credit.amount <= MAX_STROOPS)
            assert is_account_id(credit.destination), credit.destination
            assert is_paging_token(credit.operation_id)
            assert is_paging_token(credit.paging_token)
            assert credit.ledger is None or 0 < credit.ledger < 2**32
            assert credit.muxed_id is None or 0 <= credit.muxed_id < 2**64
            assert len(credit.transaction_hash) == 64
        credits += len(found)
    return credits


def seeds() -> Iterator[bytes]:
    """Real Horizon bytes (../shared/horizon-fixtures, when beside the clone) as SSE events."""
    if not FIXTURES.is_dir():
        return
    for path in sorted((FIXTURES / "sse").glob("*.txt")):
        yield path.read_bytes()
    for path in sorted((FIXTURES / "operations").glob("*.json")):
        record = json.loads(path.read_text())
        transaction = _transaction_for(record)
        if transaction is not None:
            record = {**record, "transaction": transaction}
        body = json.dumps(record, separators=(",", ":"))
        yield f"id: {record.get('paging_token', '1')}\ndata: {body}\n\n".encode()


def _transaction_for(record: dict[str, object]) -> dict[str, object] | None:
    """A joined transaction for a fixture operation (memo text), so seeds reach the credit paths."""
    tx_hash = record.get("transaction_hash")
    if not isinstance(tx_hash, str):
        return None
    return {"hash": tx_hash, "ledger": 1000, "successful": True, "memo_type": "text", "memo": "seed"}
