"""Which event types a webhook endpoint subscribes to: `*`, a family such as `payment.*`, or a type."""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain.lifecycle import EVENT_TYPES


def event_matches(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def event_pattern_is_valid(pattern: str) -> bool:
    """A pattern is valid when it matches at least one event type (a typo would silently match none)."""
    return any(event_matches(pattern, event_type) for event_type in EVENT_TYPES)


def subscribed(patterns: Iterable[str], event_type: str) -> bool:
    return any(event_matches(pattern, event_type) for pattern in patterns)
