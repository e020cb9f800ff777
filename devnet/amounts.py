"""Exact amount handling: integers (stroops) inside, Horizon's 7-decimal strings outside."""

from __future__ import annotations

import re

STROOPS_PER_UNIT = 10_000_000
INT64_MAX = 2**63 - 1

_AMOUNT_RE = re.compile(r"^(\d+)(?:\.(\d{1,7}))?$")


def format_amount(stroops: int) -> str:
    """Render like Horizon's `amount.String`: always exactly 7 decimals, e.g. 1 -> "0.0000001"."""
    sign = "-" if stroops < 0 else ""
    whole, frac = divmod(abs(stroops), STROOPS_PER_UNIT)
    return f"{sign}{whole}.{frac:07d}"


def parse_amount(text: str) -> int:
    """Parse a non-negative decimal string with at most 7 decimals into stroops (no float involved)."""
    match = _AMOUNT_RE.match(text.strip())
    if match is None:
        raise ValueError(f"invalid amount {text!r}: expected digits with at most 7 decimals")
    whole, frac = match.group(1), match.group(2) or ""
    value = int(whole) * STROOPS_PER_UNIT + int(frac.ljust(7, "0"))
    if value > INT64_MAX:
        raise ValueError(f"invalid amount {text!r}: over the int64 maximum")
    return value
