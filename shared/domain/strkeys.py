"""Strkey checks (SEP-23) with checksum verification, via stellar-sdk."""

from __future__ import annotations

from functools import lru_cache

from stellar_sdk import MuxedAccount, StrKey


def is_account_id(value: object) -> bool:
    """A valid ed25519 public key `G…` (checksum included)."""
    return isinstance(value, str) and len(value) == 56 and _valid_account_id(value)


@lru_cache(maxsize=65536)  # the same accounts recur in every record; a checksum costs ~20 µs
def _valid_account_id(value: str) -> bool:
    return bool(StrKey.is_valid_ed25519_public_key(value))


def is_muxed_account(value: object) -> bool:
    return isinstance(value, str) and len(value) == 69 and bool(StrKey.is_valid_med25519_public_key(value))


@lru_cache(maxsize=65536)  # every event's payment view shows it: computing it costs ~0.2 ms
def muxed_address(account_id: str, muxed_id: int) -> str:
    """The SEP-23 `M…` address for (G account, 64-bit id)."""
    return str(MuxedAccount(account_id, muxed_id).account_muxed)


def split_muxed(address: str) -> tuple[str, int]:
    """(G account, id) of an `M…` address; ValueError if it is not one."""
    if not is_muxed_account(address):
        raise ValueError("not a muxed (M…) address")
    muxed = MuxedAccount.from_account(address)
    if muxed.account_muxed_id is None:
        raise ValueError("not a muxed (M…) address")
    return str(muxed.account_id), int(muxed.account_muxed_id)
