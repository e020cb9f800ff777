"""JSON text as Go's encoding/json writes it (Horizon is a Go program).

Go escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings and leaves other non-ASCII text as UTF-8.
Those characters only ever occur inside JSON strings, so escaping the serialized text is exact.
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


def compact(value: Any) -> str:
    """`json.Marshal`: one line, no spaces (what Horizon puts in an SSE `data:` line)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_GO_ESCAPES)


def indented(value: Any) -> str:
    """`json.MarshalIndent(v, "", "  ")`: what Horizon writes for REST bodies and problems."""
    return json.dumps(value, ensure_ascii=False, indent=2, separators=(",", ": ")).translate(_GO_ESCAPES)
