"""JSON on the hot paths: stream records in, event data and API responses out.

orjson parses and serialises several times faster than the standard library, which matters where
every stream record is parsed and every event's payment view is serialised (bench/, docs/benchmarks.md).
The output is compact JSON with non-ASCII characters kept as UTF-8, the same text `json.dumps` gives
with `separators=(",", ":"), ensure_ascii=False`. Parsing refuses NaN and Infinity, which are not JSON.
"""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a ValueError


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def dumps(value: Any) -> str:
    """Compact JSON text (dict keys must be strings; integers must fit 64 bits)."""
    return orjson.dumps(value).decode()
