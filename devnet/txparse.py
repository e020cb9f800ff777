"""Decoding submitted envelopes into what the ledger needs (all amounts as int64 stroops)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from stellar_sdk import Keypair, MuxedAccount, TransactionEnvelope
from stellar_sdk import xdr as stellar_xdr
from stellar_sdk.exceptions import BadSignatureError

from .history import MemoInfo, MuxedRef
from .xdrutil import req


class MalformedEnvelope(ValueError):
    """The `tx` field is not a transaction envelope this network can decode."""


class UnsupportedEnvelope(ValueError):
    """A valid envelope of a kind the devnet does not implement (fee bumps)."""


@dataclass
class ParsedOperation:
    index: int  # 1-based, as in TOIDs
    source: MuxedRef | None
    body: stellar_xdr.OperationBody

    @property
    def type_i(self) -> int:
        return int(self.body.type)


@dataclass
class ParsedTransaction:
    envelope_xdr: str
    hash: bytes
    source: MuxedRef
    max_fee: int
    seq_num: int
    memo: MemoInfo
    time_bounds: tuple[int, int] | None
    operations: list[ParsedOperation]
    signatures: list[stellar_xdr.DecoratedSignature]
    extra_preconditions: bool

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()

    @property
    def signatures_b64(self) -> list[str]:
        return [base64.b64encode(s.signature.signature).decode() for s in self.signatures]

    def operation_source(self, op: ParsedOperation) -> MuxedRef:
        return op.source or self.source


def muxed_ref(account: stellar_xdr.MuxedAccount) -> MuxedRef:
    parsed = MuxedAccount.from_xdr_object(account)
    if parsed.account_muxed_id is None:
        return MuxedRef(parsed.account_id)
    return MuxedRef(parsed.account_id, parsed.account_muxed, parsed.account_muxed_id)


def account_id_of(account: stellar_xdr.AccountID) -> str:
    return str(Keypair.from_raw_ed25519_public_key(req(account.account_id.ed25519).uint256).public_key)


def parse_envelope(envelope_xdr: str, passphrase: str) -> ParsedTransaction:
    try:
        envelope = stellar_xdr.TransactionEnvelope.from_xdr(envelope_xdr)
    except Exception as exc:  # xdrlib3 raises assorted errors on garbage
        raise MalformedEnvelope(str(exc)) from exc
    if envelope.type == stellar_xdr.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP:
        raise UnsupportedEnvelope("fee-bump transactions are not supported by the devnet")
    try:
        # The SDK computes the network-bound hash for both V0 and V1 envelopes.
        sdk_envelope = TransactionEnvelope.from_xdr(envelope_xdr, passphrase)
        tx_hash = sdk_envelope.hash()
    except Exception as exc:
        raise MalformedEnvelope(str(exc)) from exc

    if envelope.type == stellar_xdr.EnvelopeType.ENVELOPE_TYPE_TX_V0:
        v0 = req(envelope.v0)
        source = MuxedRef(
            str(Keypair.from_raw_ed25519_public_key(v0.tx.source_account_ed25519.uint256).public_key)
        )
        fee = v0.tx.fee.uint32
        seq = v0.tx.seq_num.sequence_number.int64
        memo = v0.tx.memo
        bounds = v0.tx.time_bounds
        time_bounds = (
            None if bounds is None else (bounds.min_time.time_point.uint64, bounds.max_time.time_point.uint64)
        )
        operations = v0.tx.operations
        signatures = v0.signatures
        extra = False
    else:
        v1 = req(envelope.v1)
        source = muxed_ref(v1.tx.source_account)
        fee = v1.tx.fee.uint32
        seq = v1.tx.seq_num.sequence_number.int64
        memo = v1.tx.memo
        time_bounds, extra = _preconditions(v1.tx.cond)
        operations = v1.tx.operations
        signatures = v1.signatures

    parsed_ops = [
        ParsedOperation(
            index=i + 1,
            source=None if op.source_account is None else muxed_ref(op.source_account),
            body=op.body,
        )
        for i, op in enumerate(operations)
    ]
    return ParsedTransaction(
        envelope_xdr=envelope_xdr,
        hash=tx_hash,
        source=source,
        max_fee=fee,
        seq_num=seq,
        memo=memo_info(memo),
        time_bounds=time_bounds,
        operations=parsed_ops,
        signatures=list(signatures),
        extra_preconditions=extra,
    )


def _preconditions(cond: stellar_xdr.Preconditions) -> tuple[tuple[int, int] | None, bool]:
    if cond.type == stellar_xdr.PreconditionType.PRECOND_NONE:
        return None, False
    if cond.type == stellar_xdr.PreconditionType.PRECOND_TIME:
        tb = req(cond.time_bounds)
        return (tb.min_time.time_point.uint64, tb.max_time.time_point.uint64), False
    v2 = req(cond.v2)
    bounds = None
    if v2.time_bounds is not None:
        bounds = (v2.time_bounds.min_time.time_point.uint64, v2.time_bounds.max_time.time_point.uint64)
    extra = bool(
        v2.ledger_bounds is not None
        or v2.min_seq_num is not None
        or v2.min_seq_age.duration.uint64
        or v2.min_seq_ledger_gap.uint32
        or v2.extra_signers
    )
    return bounds, extra


def memo_info(memo: stellar_xdr.Memo) -> MemoInfo:
    """Horizon's memo rendering: text is NUL-stripped and scrubbed, ids decimal, hashes base64."""
    kind = memo.type
    if kind == stellar_xdr.MemoType.MEMO_TEXT:
        raw = memo.text or b""
        return MemoInfo("text", scrub_utf8(raw.replace(b"\x00", b"")), raw)
    if kind == stellar_xdr.MemoType.MEMO_ID:
        return MemoInfo("id", str(req(memo.id).uint64))
    if kind == stellar_xdr.MemoType.MEMO_HASH:
        return MemoInfo("hash", base64.b64encode(req(memo.hash).hash).decode())
    if kind == stellar_xdr.MemoType.MEMO_RETURN:
        return MemoInfo("return", base64.b64encode(req(memo.ret_hash).hash).decode())
    return MemoInfo("none")


def scrub_utf8(raw: bytes) -> str:
    """Like Go's `utf8.DecodeRune` loop: each byte that starts no valid sequence becomes U+FFFD."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        lead = raw[i]
        width = (
            1
            if lead < 0x80
            else 2
            if lead >> 5 == 0b110
            else 3
            if lead >> 4 == 0b1110
            else 4
            if lead >> 3 == 0b11110
            else 0
        )
        if width:
            try:
                out.append(raw[i : i + width].decode("utf-8"))
                i += width
                continue
            except UnicodeDecodeError:
                pass
        out.append("\ufffd")
        i += 1
    return "".join(out)


def signer_satisfied(
    account_id: str, tx_hash: bytes, signatures: list[stellar_xdr.DecoratedSignature], used: set[int]
) -> bool:
    """Is there a signature by this account's master key? Marks the matching signature as used."""
    keypair = Keypair.from_public_key(account_id)
    hint = keypair.signature_hint()
    for i, sig in enumerate(signatures):
        if sig.hint.signature_hint != hint:
            continue
        try:
            keypair.verify(tx_hash, sig.signature.signature)
        except BadSignatureError:
            continue
        used.add(i)
        return True
    return False
