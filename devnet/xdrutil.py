"""Narrowing XDR union arms (the SDK types every arm as Optional)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def req(value: T | None) -> T:
    """The arm a union's discriminant says is present; a missing one means a broken envelope."""
    if value is None:
        raise ValueError("XDR union arm missing for its discriminant")
    return value
