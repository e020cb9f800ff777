"""Exact Stellar amounts: integer stroops inside, 7-decimal strings outside. No float anywhere."""

from __future__ import annotations

import re

STROOPS_PER_UNIT = 10_000_000
DECIMALS = 7
MAX_STROOPS = 2**63 - 1  # int64, Stellar's amount type: 922337203685.4775807

# ASCII digits only: int() would also accept "1_000", "٣" or surrounding spaces.
_USER_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]{1,7}))?", re.ASCII)
_HORIZON_AMOUNT = re.compile(r"([0-9]+)\.([0-9]{7})", re.ASCII)


class AmountError(ValueError):
    """An amount string that is not an exact, positive, in-range Stellar amount."""


def parse_amount(text: str) -> int:
    """Parse a user-supplied decimal string ("25", "25.5", "0.0000001") into stroops.

    Refused: more than 7 decimals, zero, negative or signed values, exponents, NaN/Infinity, leading
    zeros, whitespace, and anything above the int64 maximum.
    """
    if not isinstance(text, str):
        raise AmountError("amount must be a decimal string")
    match = _USER_AMOUNT.fullmatch(text)
    if match is None:
        if re.fullmatch(r"[0-9]*\.[0-9]{8,}", text, re.ASCII):
            raise AmountError("amount has more than 7 decimal places")
        raise AmountError('amount must be a plain decimal string like "25" or "25.5"')
    whole, frac = match.group(1), match.group(2) or ""
    if len(whole) > 12:  # cheap guard before building a huge int
        raise AmountError("amount is above the maximum 922337203685.4775807")
    stroops = int(whole) * STROOPS_PER_UNIT + int(frac.ljust(DECIMALS, "0"))
    if stroops == 0:
        raise AmountError("amount must be greater than zero")
    if stroops > MAX_STROOPS:
        raise AmountError("amount is above the maximum 922337203685.4775807")
    return stroops


def parse_horizon_amount(text: object) -> int:
    """Parse an amount as Horizon renders it (always exactly 7 decimals; zero allowed)."""
    if not isinstance(text, str):
        raise AmountError("amount is not a string")
    match = _HORIZON_AMOUNT.fullmatch(text)
    if match is None:
        raise AmountError(f"not a Horizon amount: {text[:40]!r}")
    if len(match.group(1)) > 12:
        raise AmountError("amount does not fit in int64")
    stroops = int(match.group(1)) * STROOPS_PER_UNIT + int(match.group(2))
    if stroops > MAX_STROOPS:
        raise AmountError("amount does not fit in int64")
    return stroops


def format_amount(stroops: int) -> str:
    """Render stroops the way Horizon does: exactly 7 decimals ("25.0000000")."""
    if stroops < 0:
        return "-" + format_amount(-stroops)
    whole, frac = divmod(stroops, STROOPS_PER_UNIT)
    return f"{whole}.{frac:07d}"


def format_amount_short(stroops: int) -> str:
    """Render stroops without trailing zeros ("25", "25.5"), for URIs and people."""
    text = format_amount(stroops).rstrip("0")
    return text[:-1] if text.endswith(".") else text
