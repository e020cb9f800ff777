"""Wall-clock time, in one place (network time comes from ledgers, never from here)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
