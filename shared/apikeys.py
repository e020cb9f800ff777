"""API keys: `pw_<id>_<secret>`. Only a SHA-256 digest is stored; the key is shown once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SCOPES = ("payments:read", "payments:write", "events:read", "webhooks:manage", "admin")
_KEY = re.compile(r"pw_([a-z0-9]{12})_([A-Za-z0-9_-]{43})", re.ASCII)
_DUMMY_HASH = hashlib.sha256(b"paywatch: no such key").hexdigest()


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    key: str  # the whole secret key: print it once, never store it
    key_hash: str


def generate_key() -> NewKey:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    key_id = "".join(secrets.choice(alphabet) for _ in range(12))
    key = f"pw_{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id, key, hash_key(key))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(presented: str) -> str | None:
    """The key id of a well-formed key, else None."""
    match = _KEY.fullmatch(presented)
    return match.group(1) if match else None


def key_matches(presented: str, stored_hash: str | None) -> bool:
    """Constant-time comparison; an unknown key id is compared against a dummy digest."""
    return hmac.compare_digest(hash_key(presented), stored_hash or _DUMMY_HASH) and stored_hash is not None


def parse_scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(part.strip() for part in re.split(r"[,\s]+", text) if part.strip()))
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r} (known: {', '.join(SCOPES)})")
    if not scopes:
        raise ValueError("at least one scope is required")
    return scopes


def allows(granted: frozenset[str], needed: str) -> bool:
    return needed in granted or "admin" in granted
