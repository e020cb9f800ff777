"""Applying operations to ledger entries, with Stellar-core's result codes and Horizon's effects."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import Keypair
from stellar_sdk import xdr as stellar_xdr

from . import assets
from .amounts import format_amount
from .assets import AssetKey
from .history import MuxedRef
from .rates import RateTable, receive_for_send, send_for_receive
from .results import OpResult, inner, outer
from .state import BASE_RESERVE, INT64_MAX, AccountEntry, Overlay, TrustLine
from .txparse import ParsedOperation, account_id_of, muxed_ref
from .xdrutil import req

T = stellar_xdr.OperationType

EFFECT_TYPE_I: dict[str, int] = {
    "account_created": 0,
    "account_removed": 1,
    "account_credited": 2,
    "account_debited": 3,
    "signer_created": 10,
    "trustline_created": 20,
    "trustline_removed": 21,
    "trustline_updated": 22,
    "data_created": 40,
    "data_removed": 41,
    "data_updated": 42,
}


@dataclass
class EffectSpec:
    account: MuxedRef
    type: str
    details: dict[str, Any]


@dataclass
class Applied:
    result: OpResult
    effects: list[EffectSpec] = field(default_factory=list)
    detail_updates: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpContext:
    view: Overlay
    source: MuxedRef
    ledger_seq: int
    close_time: int
    rates: RateTable


SUPPORTED = frozenset(
    {
        T.CREATE_ACCOUNT,
        T.PAYMENT,
        T.PATH_PAYMENT_STRICT_RECEIVE,
        T.PATH_PAYMENT_STRICT_SEND,
        T.CHANGE_TRUST,
        T.ACCOUNT_MERGE,
        T.MANAGE_DATA,
    }
)


def check_valid(op: ParsedOperation, source: MuxedRef) -> OpResult | None:
    """Stateless validity (core's doCheckValid): a failure here rejects the transaction at submission."""
    body = op.body
    kind = body.type
    if kind not in SUPPORTED:
        return outer(stellar_xdr.OperationResultCode.opNOT_SUPPORTED)
    if kind == T.CREATE_ACCOUNT:
        ca = req(body.create_account_op)
        if ca.starting_balance.int64 < 0 or account_id_of(ca.destination) == source.account_id:
            return _create_account(stellar_xdr.CreateAccountResultCode.CREATE_ACCOUNT_MALFORMED)
    elif kind == T.PAYMENT:
        if req(body.payment_op).amount.int64 <= 0:
            return _payment(stellar_xdr.PaymentResultCode.PAYMENT_MALFORMED)
    elif kind == T.PATH_PAYMENT_STRICT_RECEIVE:
        pr = req(body.path_payment_strict_receive_op)
        if pr.dest_amount.int64 <= 0 or pr.send_max.int64 <= 0:
            return _strict_receive(
                stellar_xdr.PathPaymentStrictReceiveResultCode.PATH_PAYMENT_STRICT_RECEIVE_MALFORMED
            )
    elif kind == T.PATH_PAYMENT_STRICT_SEND:
        ps = req(body.path_payment_strict_send_op)
        if ps.send_amount.int64 <= 0 or ps.dest_min.int64 <= 0:
            return _strict_send(
                stellar_xdr.PathPaymentStrictSendResultCode.PATH_PAYMENT_STRICT_SEND_MALFORMED
            )
    elif kind == T.CHANGE_TRUST:
        ct = req(body.change_trust_op)
        asset = assets.from_change_trust_xdr(ct.line)
        if asset is None or asset.is_native or ct.limit.int64 < 0:
            return _change_trust(stellar_xdr.ChangeTrustResultCode.CHANGE_TRUST_MALFORMED)
        if asset.issuer == source.account_id:
            return _change_trust(stellar_xdr.ChangeTrustResultCode.CHANGE_TRUST_MALFORMED)
    elif kind == T.ACCOUNT_MERGE:
        if muxed_ref(req(body.destination)).account_id == source.account_id:
            return _merge(stellar_xdr.AccountMergeResultCode.ACCOUNT_MERGE_MALFORMED)
    elif kind == T.MANAGE_DATA:
        name = req(body.manage_data_op).data_name.string64
        if not name or len(name) > 64 or not all(0x20 <= b < 0x7F for b in name):
            return _manage_data(stellar_xdr.ManageDataResultCode.MANAGE_DATA_INVALID_NAME)
    return None


def apply_operation(ctx: OpContext, op: ParsedOperation) -> Applied:
    if not ctx.view.exists(ctx.source.account_id):
        # e.g. the source was merged away by an earlier operation of the same transaction
        return Applied(outer(stellar_xdr.OperationResultCode.opNO_ACCOUNT))
    invalid = check_valid(op, ctx.source)
    if invalid is not None:
        return Applied(invalid)
    kind = op.body.type
    if kind == T.CREATE_ACCOUNT:
        return _apply_create_account(ctx, req(op.body.create_account_op))
    if kind == T.PAYMENT:
        return _apply_payment(ctx, req(op.body.payment_op))
    if kind == T.PATH_PAYMENT_STRICT_RECEIVE:
        return _apply_strict_receive(ctx, req(op.body.path_payment_strict_receive_op))
    if kind == T.PATH_PAYMENT_STRICT_SEND:
        return _apply_strict_send(ctx, req(op.body.path_payment_strict_send_op))
    if kind == T.CHANGE_TRUST:
        return _apply_change_trust(ctx, req(op.body.change_trust_op))
    if kind == T.ACCOUNT_MERGE:
        return _apply_merge(ctx, muxed_ref(req(op.body.destination)))
    return _apply_manage_data(ctx, req(op.body.manage_data_op))


# --- result constructors ---------------------------------------------------------------------


def _create_account(code: stellar_xdr.CreateAccountResultCode) -> OpResult:
    return inner(T.CREATE_ACCOUNT, code, create_account_result=stellar_xdr.CreateAccountResult(code))


def _payment(code: stellar_xdr.PaymentResultCode) -> OpResult:
    return inner(T.PAYMENT, code, payment_result=stellar_xdr.PaymentResult(code))


def _strict_receive(
    code: stellar_xdr.PathPaymentStrictReceiveResultCode,
    success: stellar_xdr.PathPaymentStrictReceiveResultSuccess | None = None,
) -> OpResult:
    result = stellar_xdr.PathPaymentStrictReceiveResult(code, success=success)
    return inner(T.PATH_PAYMENT_STRICT_RECEIVE, code, path_payment_strict_receive_result=result)


def _strict_send(
    code: stellar_xdr.PathPaymentStrictSendResultCode,
    success: stellar_xdr.PathPaymentStrictSendResultSuccess | None = None,
) -> OpResult:
    result = stellar_xdr.PathPaymentStrictSendResult(code, success=success)
    return inner(T.PATH_PAYMENT_STRICT_SEND, code, path_payment_strict_send_result=result)


def _change_trust(code: stellar_xdr.ChangeTrustResultCode) -> OpResult:
    return inner(T.CHANGE_TRUST, code, change_trust_result=stellar_xdr.ChangeTrustResult(code))


def _merge(code: stellar_xdr.AccountMergeResultCode, balance: int | None = None) -> OpResult:
    result = stellar_xdr.AccountMergeResult(code, None if balance is None else stellar_xdr.Int64(balance))
    return inner(T.ACCOUNT_MERGE, code, account_merge_result=result)


def _manage_data(code: stellar_xdr.ManageDataResultCode) -> OpResult:
    return inner(T.MANAGE_DATA, code, manage_data_result=stellar_xdr.ManageDataResult(code))


# --- balance helpers -------------------------------------------------------------------------


def can_receive(account: AccountEntry, asset: AssetKey, amount: int) -> str | None:
    """Why `account` cannot be credited (`no_trust` / `line_full`), or None."""
    if asset.is_native:
        return "line_full" if account.balance + amount > INT64_MAX else None
    if asset.issuer == account.account_id:
        return None  # paying the issuer burns the tokens
    line = account.trustlines.get(asset)
    if line is None:
        return "no_trust"
    return "line_full" if line.balance + amount > line.limit else None


def can_send(account: AccountEntry, asset: AssetKey, amount: int) -> str | None:
    """Why `account` cannot be debited (`src_no_trust` / `underfunded`), or None."""
    if asset.is_native:
        return "underfunded" if account.available_native() < amount else None
    if asset.issuer == account.account_id:
        return None  # the issuer creates tokens by paying them
    line = account.trustlines.get(asset)
    if line is None:
        return "src_no_trust"
    return "underfunded" if line.balance < amount else None


def move(account: AccountEntry, asset: AssetKey, delta: int, ledger_seq: int) -> None:
    if asset.is_native:
        account.balance += delta
    elif asset.issuer != account.account_id:
        line = account.trustlines[asset]
        line.balance += delta
        line.last_modified_ledger = ledger_seq
    account.last_modified_ledger = ledger_seq


def amount_details(asset: AssetKey, amount: int) -> dict[str, Any]:
    return {**asset.horizon_fields(), "amount": format_amount(amount)}


# --- appliers --------------------------------------------------------------------------------


def _apply_create_account(ctx: OpContext, op: stellar_xdr.CreateAccountOp) -> Applied:
    Code = stellar_xdr.CreateAccountResultCode
    destination = account_id_of(op.destination)
    amount = op.starting_balance.int64
    if ctx.view.exists(destination):
        return Applied(_create_account(Code.CREATE_ACCOUNT_ALREADY_EXIST))
    if amount < 2 * BASE_RESERVE:
        return Applied(_create_account(Code.CREATE_ACCOUNT_LOW_RESERVE))
    source = ctx.view.get(ctx.source.account_id)
    assert source is not None
    if source.available_native() < amount:
        return Applied(_create_account(Code.CREATE_ACCOUNT_UNDERFUNDED))
    source.balance -= amount
    source.last_modified_ledger = ctx.ledger_seq
    ctx.view.put(
        AccountEntry(
            account_id=destination,
            balance=amount,
            seq_num=ctx.ledger_seq << 32,
            last_modified_ledger=ctx.ledger_seq,
        )
    )
    effects = [
        EffectSpec(MuxedRef(destination), "account_created", {"starting_balance": format_amount(amount)}),
        EffectSpec(ctx.source, "account_debited", amount_details(assets.NATIVE, amount)),
        EffectSpec(
            MuxedRef(destination),
            "signer_created",
            {"weight": 1, "public_key": destination, "key": destination},
        ),
    ]
    return Applied(_create_account(Code.CREATE_ACCOUNT_SUCCESS), effects)


def _apply_payment(ctx: OpContext, op: stellar_xdr.PaymentOp) -> Applied:
    Code = stellar_xdr.PaymentResultCode
    to = muxed_ref(op.destination)
    asset = assets.from_xdr(op.asset)
    amount = op.amount.int64
    destination = ctx.view.get(to.account_id)
    if destination is None:
        return Applied(_payment(Code.PAYMENT_NO_DESTINATION))
    source = ctx.view.get(ctx.source.account_id)
    assert source is not None
    if not (asset.is_native and source is destination):
        refused = can_receive(destination, asset, amount)
        if refused is not None:
            return Applied(
                _payment(Code.PAYMENT_NO_TRUST if refused == "no_trust" else Code.PAYMENT_LINE_FULL)
            )
        refused = can_send(source, asset, amount)
        if refused is not None:
            return Applied(
                _payment(Code.PAYMENT_SRC_NO_TRUST if refused == "src_no_trust" else Code.PAYMENT_UNDERFUNDED)
            )
        move(destination, asset, amount, ctx.ledger_seq)
        move(source, asset, -amount, ctx.ledger_seq)
    details = amount_details(asset, amount)
    effects = [
        EffectSpec(to, "account_credited", details),
        EffectSpec(ctx.source, "account_debited", details),
    ]
    return Applied(_payment(Code.PAYMENT_SUCCESS), effects)


def _simple_payment_result(to: MuxedRef, asset: AssetKey, amount: int) -> stellar_xdr.SimplePaymentResult:
    return stellar_xdr.SimplePaymentResult(
        destination=Keypair.from_public_key(to.account_id).xdr_account_id(),
        asset=asset.to_sdk().to_xdr_object(),
        amount=stellar_xdr.Int64(amount),
    )


def _apply_strict_receive(ctx: OpContext, op: stellar_xdr.PathPaymentStrictReceiveOp) -> Applied:
    Code = stellar_xdr.PathPaymentStrictReceiveResultCode
    to = muxed_ref(op.destination)
    send_asset = assets.from_xdr(op.send_asset)
    dest_asset = assets.from_xdr(op.dest_asset)
    received = op.dest_amount.int64
    destination = ctx.view.get(to.account_id)
    if destination is None:
        return Applied(_strict_receive(Code.PATH_PAYMENT_STRICT_RECEIVE_NO_DESTINATION))
    refused = can_receive(destination, dest_asset, received)
    if refused is not None:
        code = (
            Code.PATH_PAYMENT_STRICT_RECEIVE_NO_TRUST
            if refused == "no_trust"
            else Code.PATH_PAYMENT_STRICT_RECEIVE_LINE_FULL
        )
        return Applied(_strict_receive(code))
    rate = ctx.rates.get(send_asset, dest_asset)
    if rate is None:
        return Applied(_strict_receive(Code.PATH_PAYMENT_STRICT_RECEIVE_TOO_FEW_OFFERS))
    sent = send_for_receive(received, rate)
    if sent > op.send_max.int64:
        return Applied(_strict_receive(Code.PATH_PAYMENT_STRICT_RECEIVE_OVER_SENDMAX))
    source = ctx.view.get(ctx.source.account_id)
    assert source is not None
    refused = can_send(source, send_asset, sent)
    if refused is not None:
        code = (
            Code.PATH_PAYMENT_STRICT_RECEIVE_SRC_NO_TRUST
            if refused == "src_no_trust"
            else Code.PATH_PAYMENT_STRICT_RECEIVE_UNDERFUNDED
        )
        return Applied(_strict_receive(code))
    move(destination, dest_asset, received, ctx.ledger_seq)
    move(source, send_asset, -sent, ctx.ledger_seq)
    success = stellar_xdr.PathPaymentStrictReceiveResultSuccess(
        offers=[], last=_simple_payment_result(to, dest_asset, received)
    )
    effects = [
        EffectSpec(to, "account_credited", amount_details(dest_asset, received)),
        EffectSpec(ctx.source, "account_debited", amount_details(send_asset, sent)),
    ]
    return Applied(
        _strict_receive(Code.PATH_PAYMENT_STRICT_RECEIVE_SUCCESS, success),
        effects,
        {"source_amount": format_amount(sent)},
    )


def _apply_strict_send(ctx: OpContext, op: stellar_xdr.PathPaymentStrictSendOp) -> Applied:
    Code = stellar_xdr.PathPaymentStrictSendResultCode
    to = muxed_ref(op.destination)
    send_asset = assets.from_xdr(op.send_asset)
    dest_asset = assets.from_xdr(op.dest_asset)
    sent = op.send_amount.int64
    destination = ctx.view.get(to.account_id)
    if destination is None:
        return Applied(_strict_send(Code.PATH_PAYMENT_STRICT_SEND_NO_DESTINATION))
    source = ctx.view.get(ctx.source.account_id)
    assert source is not None
    refused = can_send(source, send_asset, sent)
    if refused is not None:
        code = (
            Code.PATH_PAYMENT_STRICT_SEND_SRC_NO_TRUST
            if refused == "src_no_trust"
            else Code.PATH_PAYMENT_STRICT_SEND_UNDERFUNDED
        )
        return Applied(_strict_send(code))
    rate = ctx.rates.get(send_asset, dest_asset)
    if rate is None:
        return Applied(_strict_send(Code.PATH_PAYMENT_STRICT_SEND_TOO_FEW_OFFERS))
    received = receive_for_send(sent, rate)
    if received < op.dest_min.int64:
        return Applied(_strict_send(Code.PATH_PAYMENT_STRICT_SEND_UNDER_DESTMIN))
    refused = can_receive(destination, dest_asset, received)
    if refused is not None:
        code = (
            Code.PATH_PAYMENT_STRICT_SEND_NO_TRUST
            if refused == "no_trust"
            else Code.PATH_PAYMENT_STRICT_SEND_LINE_FULL
        )
        return Applied(_strict_send(code))
    move(source, send_asset, -sent, ctx.ledger_seq)
    move(destination, dest_asset, received, ctx.ledger_seq)
    success = stellar_xdr.PathPaymentStrictSendResultSuccess(
        offers=[], last=_simple_payment_result(to, dest_asset, received)
    )
    effects = [
        EffectSpec(to, "account_credited", amount_details(dest_asset, received)),
        EffectSpec(ctx.source, "account_debited", amount_details(send_asset, sent)),
    ]
    return Applied(
        _strict_send(Code.PATH_PAYMENT_STRICT_SEND_SUCCESS, success),
        effects,
        {"amount": format_amount(received)},
    )


def _apply_change_trust(ctx: OpContext, op: stellar_xdr.ChangeTrustOp) -> Applied:
    Code = stellar_xdr.ChangeTrustResultCode
    asset = assets.from_change_trust_xdr(op.line)
    assert asset is not None
    assert not asset.is_native
    limit = op.limit.int64
    source = ctx.view.get(ctx.source.account_id)
    assert source is not None
    line = source.trustlines.get(asset)
    details = {**asset.horizon_fields(), "limit": format_amount(limit)}
    if line is not None:
        if limit == 0:
            if line.balance > 0:
                return Applied(_change_trust(Code.CHANGE_TRUST_INVALID_LIMIT))
            del source.trustlines[asset]
            source.num_subentries -= 1
            source.last_modified_ledger = ctx.ledger_seq
            return Applied(
                _change_trust(Code.CHANGE_TRUST_SUCCESS),
                [EffectSpec(ctx.source, "trustline_removed", details)],
            )
        if limit < line.balance:
            return Applied(_change_trust(Code.CHANGE_TRUST_INVALID_LIMIT))
        line.limit = limit
        line.last_modified_ledger = ctx.ledger_seq
        return Applied(
            _change_trust(Code.CHANGE_TRUST_SUCCESS), [EffectSpec(ctx.source, "trustline_updated", details)]
        )
    if limit == 0:
        return Applied(_change_trust(Code.CHANGE_TRUST_TRUST_LINE_MISSING))
    if not ctx.view.exists(asset.issuer):
        return Applied(_change_trust(Code.CHANGE_TRUST_NO_ISSUER))
    if source.balance < source.min_balance(extra_subentries=1):
        return Applied(_change_trust(Code.CHANGE_TRUST_LOW_RESERVE))
    source.trustlines[asset] = TrustLine(asset, 0, limit, ctx.ledger_seq)
    source.num_subentries += 1
    source.last_modified_ledger = ctx.ledger_seq
    return Applied(
        _change_trust(Code.CHANGE_TRUST_SUCCESS), [EffectSpec(ctx.source, "trustline_created", details)]
    )


def _apply_merge(ctx: OpContext, into: MuxedRef) -> Applied:
    Code = stellar_xdr.AccountMergeResultCode
    destination = ctx.view.get(into.account_id)
    if destination is None:
        return Applied(_merge(Code.ACCOUNT_MERGE_NO_ACCOUNT))
    source = ctx.view.get(ctx.source.account_id)
    assert source is not None
    if source.num_subentries > 0:
        return Applied(_merge(Code.ACCOUNT_MERGE_HAS_SUB_ENTRIES))
    if source.seq_num >= ctx.ledger_seq << 32:
        return Applied(_merge(Code.ACCOUNT_MERGE_SEQNUM_TOO_FAR))
    amount = source.balance
    if destination.balance + amount > INT64_MAX:
        return Applied(_merge(Code.ACCOUNT_MERGE_DEST_FULL))
    destination.balance += amount
    destination.last_modified_ledger = ctx.ledger_seq
    ctx.view.remove(source.account_id)
    moved = amount_details(assets.NATIVE, amount)
    effects = [
        EffectSpec(ctx.source, "account_debited", moved),
        EffectSpec(into, "account_credited", moved),
        EffectSpec(ctx.source, "account_removed", {}),
    ]
    return Applied(_merge(Code.ACCOUNT_MERGE_SUCCESS, amount), effects)


def _apply_manage_data(ctx: OpContext, op: stellar_xdr.ManageDataOp) -> Applied:
    Code = stellar_xdr.ManageDataResultCode
    name = op.data_name.string64.decode("ascii")
    source = ctx.view.get(ctx.source.account_id)
    assert source is not None
    exists = name in source.data
    if op.data_value is None:
        if not exists:
            return Applied(_manage_data(Code.MANAGE_DATA_NAME_NOT_FOUND))
        del source.data[name]
        source.num_subentries -= 1
        source.last_modified_ledger = ctx.ledger_seq
        return Applied(
            _manage_data(Code.MANAGE_DATA_SUCCESS), [EffectSpec(ctx.source, "data_removed", {"name": name})]
        )
    value = op.data_value.data_value
    if not exists and source.balance < source.min_balance(extra_subentries=1):
        return Applied(_manage_data(Code.MANAGE_DATA_LOW_RESERVE))
    if not exists:
        source.num_subentries += 1
    source.data[name] = value
    source.last_modified_ledger = ctx.ledger_seq
    kind = "data_updated" if exists else "data_created"
    effect = EffectSpec(ctx.source, kind, {"name": name, "value": base64.b64encode(value).decode()})
    return Applied(_manage_data(Code.MANAGE_DATA_SUCCESS), [effect])
