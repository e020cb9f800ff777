"""Comparing JSON records by shape: same keys, same key order, same JSON value types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass
class Allowances:
    """Fixture differences that are accepted, each with the reason (paths are dotted, `[]` for items)."""

    # Keys the fixture has and a modern devnet record does not: path -> reason.
    fixture_only: Mapping[str, str] = field(default_factory=dict)
    # Keys the devnet record has and the fixture does not: path -> reason.
    devnet_only: Mapping[str, str] = field(default_factory=dict)
    # Keys whose JSON type differs: path -> reason.
    retyped: Mapping[str, str] = field(default_factory=dict)
    # Objects whose key order is not Go struct order in the fixture: path -> reason.
    unordered: Mapping[str, str] = field(default_factory=dict)
    # Single keys left out of the order comparison (still compared for presence and type).
    order_exempt: Mapping[str, str] = field(default_factory=dict)


def compare(fixture: Any, devnet: Any, allow: Allowances | None = None, path: str = "") -> list[str]:
    """Every difference between the two shapes, as readable lines (empty list: same shape)."""
    allow = allow or Allowances()
    problems: list[str] = []
    kind_f, kind_d = json_type(fixture), json_type(devnet)
    if kind_f != kind_d:
        if path not in allow.retyped:
            problems.append(f"{path or '<root>'}: fixture {kind_f}, devnet {kind_d}")
        return problems
    if kind_f == "object":
        keys_f = [k for k in fixture if _join(path, k) not in allow.fixture_only]
        keys_d = [k for k in devnet if _join(path, k) not in allow.devnet_only]
        missing = [k for k in keys_f if k not in devnet]
        extra = [k for k in keys_d if k not in fixture]
        if missing:
            problems.append(f"{path or '<root>'}: devnet lacks {missing}")
        if extra:
            problems.append(f"{path or '<root>'}: devnet adds {extra}")
        common_f = [k for k in keys_f if k in devnet and _join(path, k) not in allow.order_exempt]
        common_d = [k for k in keys_d if k in fixture and _join(path, k) not in allow.order_exempt]
        if common_f != common_d and path not in allow.unordered:
            problems.append(f"{path or '<root>'}: key order fixture {common_f} vs devnet {common_d}")
        for key in (k for k in keys_f if k in devnet):
            problems.extend(compare(fixture[key], devnet[key], allow, _join(path, key)))
    elif kind_f == "array" and fixture and devnet:
        problems.extend(compare(fixture[0], devnet[0], allow, f"{path}[]"))
    return problems


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
