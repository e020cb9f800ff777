"""Recognising constraint violations the same way on both backends."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError


def violates(exc: IntegrityError, constraint: str, *columns: str) -> bool:
    """True when `exc` is a unique violation of `constraint` (PostgreSQL names it; SQLite names columns)."""
    message = str(exc.orig)
    if constraint in message:
        return True
    return "UNIQUE constraint failed" in message and all(column in message for column in columns)
