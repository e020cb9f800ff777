"""Payment references, and the memo / muxed-address forms a buyer uses to carry them.

A reference is a random, never-reused unsigned 64-bit integer. We draw it from 1..2^63-1 so that it
fits a signed BIGINT column on both SQLite and PostgreSQL; 63 random bits are still unguessable.
It travels as `MEMO_ID = reference`, as the id of the muxed address `M…` = (receiving account,
reference), or (memo_type = "text") as the text memo `pw-` + 13 Crockford base32 digits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

MAX_REFERENCE = 2**63 - 1
UINT64_MAX = 2**64 - 1

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TEXT_PREFIX = "pw-"
_TEXT_DIGITS = 13  # 13 * 5 = 65 bits >= 63

MemoKind = Literal["none", "id", "text", "hash", "return"]


def new_reference() -> int:
    return secrets.randbelow(MAX_REFERENCE) + 1


def is_reference(value: int) -> bool:
    return 1 <= value <= MAX_REFERENCE


def memo_text_for(reference: int) -> str:
    """The canonical text memo for a reference, e.g. `pw-0A1B2C3D4E5F6`."""
    digits = []
    value = reference
    for _ in range(_TEXT_DIGITS):
        value, rem = divmod(value, 32)
        digits.append(_CROCKFORD[rem])
    return _TEXT_PREFIX + "".join(reversed(digits))


def reference_from_memo_text(raw: bytes) -> int | None:
    """The reference a text memo carries, compared as bytes against the canonical form; else None."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    if len(text) != len(_TEXT_PREFIX) + _TEXT_DIGITS or not text.startswith(_TEXT_PREFIX):
        return None
    value = 0
    for char in text[len(_TEXT_PREFIX) :]:
        index = _CROCKFORD.find(char)
        if index < 0:
            return None
        value = value * 32 + index
    if not is_reference(value) or memo_text_for(value).encode() != raw:
        return None
    return value


@dataclass(frozen=True, slots=True)
class Memo:
    """A transaction memo as Horizon reports it; `value` is the id for `id`, raw bytes otherwise."""

    kind: MemoKind
    value: int | bytes | None = None

    def reference(self) -> int | None:
        """The payment reference this memo carries, if it carries one in a form paywatch issues."""
        if self.kind == "id" and isinstance(self.value, int):
            return self.value if is_reference(self.value) else None
        if self.kind == "text" and isinstance(self.value, bytes):
            return reference_from_memo_text(self.value)
        return None

    def display(self) -> str | None:
        """A printable form for receipts and logs (text decoded leniently, hashes as hex)."""
        if self.kind == "none" or self.value is None:
            return None
        if isinstance(self.value, int):
            return str(self.value)
        if self.kind == "text":
            # A NUL is a valid memo byte but no text column can hold it (PostgreSQL refuses it, and the
            # batch carrying it would be retried for ever): shown as U+FFFD like other undecodable bytes.
            return self.value.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        return self.value.hex()


NO_MEMO = Memo("none")
