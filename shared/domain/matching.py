"""Which payment does a credit belong to (SPEC §4)? Pure decisions over already-looked-up candidates.

Identification, in order: the muxed id, then the transaction memo (id, or text compared as bytes).
A muxed id and a memo that point to different payments make the credit ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from shared.domain.credits import Credit
from shared.domain.references import is_reference

UnmatchedReason = Literal["no_memo", "unknown_reference", "ambiguous", "late_window_passed"]

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class CandidateReferences:
    muxed: int | None  # reference carried by the muxed id, if it is a possible reference
    memo: int | None  # reference carried by the memo, if it is in a form paywatch issues
    has_identifier: bool  # the credit carried a muxed id or a memo at all

    @property
    def distinct(self) -> list[int]:
        refs = [ref for ref in (self.muxed, self.memo) if ref is not None]
        return list(dict.fromkeys(refs))


def candidate_references(credit: Credit) -> CandidateReferences:
    muxed = credit.muxed_id if credit.muxed_id is not None and is_reference(credit.muxed_id) else None
    return CandidateReferences(
        muxed=muxed,
        memo=credit.memo.reference(),
        has_identifier=credit.muxed_id is not None or credit.memo.kind != "none",
    )


@dataclass(frozen=True, slots=True)
class Matched(Generic[P]):
    payment: P


@dataclass(frozen=True, slots=True)
class NotMatched:
    reason: UnmatchedReason


def choose_payment(
    refs: CandidateReferences, by_muxed: P | None, by_memo: P | None
) -> Matched[P] | NotMatched:
    """Decide from the payments found at the credited account for each candidate reference."""
    if by_muxed is not None:
        if by_memo is not None and by_memo != by_muxed:
            return NotMatched("ambiguous")
        return Matched(by_muxed)
    if by_memo is not None:
        return Matched(by_memo)
    return NotMatched("unknown_reference" if refs.has_identifier else "no_memo")
