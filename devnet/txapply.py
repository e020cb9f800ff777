"""Transaction-level rules: submission checks and applying a transaction when its ledger closes."""

from __future__ import annotations

from dataclasses import dataclass, field

from stellar_sdk import Keypair
from stellar_sdk import xdr as stellar_xdr

from .history import EffectRecord, OperationRecord, TransactionRecord
from .opapply import EFFECT_TYPE_I, Applied, OpContext, apply_operation, check_valid
from .opdescribe import OP_TYPE_NAMES, describe
from .rates import RateTable
from .results import OpResult, inner, outer, transaction_result
from .state import BASE_FEE, AccountEntry, Overlay
from .toid import toid
from .txparse import ParsedOperation, ParsedTransaction, muxed_ref, signer_satisfied
from .xdrutil import req

TxCode = stellar_xdr.TransactionResultCode

EMPTY_LEDGER_ENTRY_CHANGES = stellar_xdr.LedgerEntryChanges([]).to_xdr()


@dataclass
class Rejection:
    """A transaction refused without being recorded (Horizon answers 400 `transaction_failed`)."""

    code: stellar_xdr.TransactionResultCode
    op_results: list[OpResult] | None
    result_xdr: str


def reject(
    code: stellar_xdr.TransactionResultCode, op_results: list[OpResult] | None = None, fee: int = 0
) -> Rejection:
    return Rejection(code, op_results, transaction_result(fee, code, op_results).to_xdr())


def fee_for(tx: ParsedTransaction) -> int:
    """What the devnet charges: the minimum fee (no surge pricing)."""
    return BASE_FEE * len(tx.operations)


def check_time_bounds(tx: ParsedTransaction, now: int) -> Rejection | None:
    if tx.time_bounds is None:
        return None
    min_time, max_time = tx.time_bounds
    if min_time and now < min_time:
        return reject(TxCode.txTOO_EARLY)
    if max_time and now > max_time:
        return reject(TxCode.txTOO_LATE)
    return None


def validate_submission(
    accounts: dict[str, AccountEntry],
    tx: ParsedTransaction,
    now: int,
    expected_seq: int | None,
    pending_fees: int,
) -> Rejection | None:
    """Stellar-core's checkValid, in its order. `expected_seq` accounts for queued transactions."""
    if not tx.operations:
        return reject(TxCode.txMISSING_OPERATION)
    if tx.extra_preconditions:
        return reject(TxCode.txNOT_SUPPORTED)
    late = check_time_bounds(tx, now)
    if late is not None:
        return late
    fee = fee_for(tx)
    if tx.max_fee < fee:
        return reject(TxCode.txINSUFFICIENT_FEE)
    source = accounts.get(tx.source.account_id)
    if source is None:
        return reject(TxCode.txNO_ACCOUNT)
    if tx.seq_num != (expected_seq if expected_seq is not None else source.seq_num + 1):
        return reject(TxCode.txBAD_SEQ)
    used: set[int] = set()
    tx_hash = tx.hash
    if not signer_satisfied(source.account_id, tx_hash, tx.signatures, used):
        return reject(TxCode.txBAD_AUTH)
    if source.available_native() - pending_fees < fee:
        return reject(TxCode.txINSUFFICIENT_BALANCE)
    op_results: list[OpResult] = []
    failed = False
    for op in tx.operations:
        op_source = tx.operation_source(op)
        result: OpResult | None
        if op.source is not None and op_source.account_id not in accounts:
            result = outer(stellar_xdr.OperationResultCode.opNO_ACCOUNT)
        elif op.source is not None and not signer_satisfied(
            op_source.account_id, tx_hash, tx.signatures, used
        ):
            result = outer(stellar_xdr.OperationResultCode.opBAD_AUTH)
        else:
            result = check_valid(op, op_source)
        if result is None:
            op_results.append(_success_placeholder(op))
        else:
            failed = True
            op_results.append(result)
    if failed:
        return reject(TxCode.txFAILED, op_results, fee)
    if len(used) != len(tx.signatures):
        return reject(TxCode.txBAD_AUTH_EXTRA)
    return None


def _success_placeholder(op: ParsedOperation) -> OpResult:
    """How core reports an operation that passed validation inside a txFAILED result: a default success."""
    body = op.body
    kind = body.type
    Ty = stellar_xdr.OperationType
    if kind == Ty.CREATE_ACCOUNT:
        ca = stellar_xdr.CreateAccountResultCode.CREATE_ACCOUNT_SUCCESS
        return inner(kind, ca, create_account_result=stellar_xdr.CreateAccountResult(ca))
    if kind == Ty.PAYMENT:
        pay = stellar_xdr.PaymentResultCode.PAYMENT_SUCCESS
        return inner(kind, pay, payment_result=stellar_xdr.PaymentResult(pay))
    if kind == Ty.PATH_PAYMENT_STRICT_RECEIVE:
        pr = req(body.path_payment_strict_receive_op)
        rcode = stellar_xdr.PathPaymentStrictReceiveResultCode.PATH_PAYMENT_STRICT_RECEIVE_SUCCESS
        receive = stellar_xdr.PathPaymentStrictReceiveResult(
            rcode,
            success=stellar_xdr.PathPaymentStrictReceiveResultSuccess(
                offers=[], last=_zero_payment(pr.destination, pr.dest_asset)
            ),
        )
        return inner(kind, rcode, path_payment_strict_receive_result=receive)
    if kind == Ty.PATH_PAYMENT_STRICT_SEND:
        ps = req(body.path_payment_strict_send_op)
        scode = stellar_xdr.PathPaymentStrictSendResultCode.PATH_PAYMENT_STRICT_SEND_SUCCESS
        send = stellar_xdr.PathPaymentStrictSendResult(
            scode,
            success=stellar_xdr.PathPaymentStrictSendResultSuccess(
                offers=[], last=_zero_payment(ps.destination, ps.dest_asset)
            ),
        )
        return inner(kind, scode, path_payment_strict_send_result=send)
    if kind == Ty.CHANGE_TRUST:
        ct = stellar_xdr.ChangeTrustResultCode.CHANGE_TRUST_SUCCESS
        return inner(kind, ct, change_trust_result=stellar_xdr.ChangeTrustResult(ct))
    if kind == Ty.ACCOUNT_MERGE:
        am = stellar_xdr.AccountMergeResultCode.ACCOUNT_MERGE_SUCCESS
        merge = stellar_xdr.AccountMergeResult(am, stellar_xdr.Int64(0))
        return inner(kind, am, account_merge_result=merge)
    md = stellar_xdr.ManageDataResultCode.MANAGE_DATA_SUCCESS
    return inner(kind, md, manage_data_result=stellar_xdr.ManageDataResult(md))


def _zero_payment(
    destination: stellar_xdr.MuxedAccount, asset: stellar_xdr.Asset
) -> stellar_xdr.SimplePaymentResult:
    return stellar_xdr.SimplePaymentResult(
        destination=Keypair.from_public_key(muxed_ref(destination).account_id).xdr_account_id(),
        asset=asset,
        amount=stellar_xdr.Int64(0),
    )


@dataclass
class AppliedTransaction:
    record: TransactionRecord
    operations: list[OperationRecord]
    effects: list[EffectRecord]
    op_results: list[OpResult]
    fee: int = 0
    code: stellar_xdr.TransactionResultCode = field(default=TxCode.txSUCCESS)


def apply_transaction(
    accounts: dict[str, AccountEntry],
    tx: ParsedTransaction,
    ledger_seq: int,
    tx_index: int,
    close_time: int,
    rates: RateTable,
) -> AppliedTransaction | Rejection:
    """Apply one transaction at ledger close: fee and sequence always, operations all-or-nothing."""
    source = accounts.get(tx.source.account_id)
    if source is None:
        return reject(TxCode.txNO_ACCOUNT)
    if tx.seq_num != source.seq_num + 1:
        return reject(TxCode.txBAD_SEQ)
    late = check_time_bounds(tx, close_time)
    if late is not None:
        return late
    fee = fee_for(tx)
    if source.available_native() < fee:
        return reject(TxCode.txINSUFFICIENT_BALANCE)

    # Fee and sequence number are consumed whatever the operations do.
    source.balance -= fee
    source.seq_num = tx.seq_num
    source.seq_ledger = ledger_seq
    source.seq_time = close_time
    source.last_modified_ledger = ledger_seq

    view = Overlay(accounts)
    applied: list[Applied] = []
    for op in tx.operations:
        ctx = OpContext(view, tx.operation_source(op), ledger_seq, close_time, rates)
        applied.append(apply_operation(ctx, op))
    successful = all(a.result.success for a in applied)
    if successful:
        view.commit()
    op_results = [a.result for a in applied]
    code = TxCode.txSUCCESS if successful else TxCode.txFAILED
    result_xdr = transaction_result(fee, code, op_results).to_xdr()

    record = TransactionRecord(
        hash=tx.hash_hex,
        ledger=ledger_seq,
        index=tx_index,
        closed_at=close_time,
        successful=successful,
        source=tx.source,
        source_sequence=tx.seq_num,
        fee_account=tx.source,
        fee_charged=fee,
        max_fee=tx.max_fee,
        operation_count=len(tx.operations),
        envelope_xdr=tx.envelope_xdr,
        result_xdr=result_xdr,
        fee_meta_xdr=EMPTY_LEDGER_ENTRY_CHANGES,
        memo=tx.memo,
        signatures=tx.signatures_b64,
        time_bounds=tx.time_bounds,
        participants={tx.source.account_id},
    )
    operations: list[OperationRecord] = []
    effects: list[EffectRecord] = []
    for op, outcome in zip(tx.operations, applied, strict=True):
        op_source = tx.operation_source(op)
        description = describe(op.body, op_source)
        if successful:
            description.details.update(outcome.detail_updates)
        op_id = toid(ledger_seq, tx_index, op.index)
        operations.append(
            OperationRecord(
                id=op_id,
                transaction=record,
                index=op.index,
                type=OP_TYPE_NAMES.get(op.type_i, "unknown"),
                type_i=op.type_i,
                source=op_source,
                details=description.details,
                participants=description.participants,
                is_payment=description.is_payment,
            )
        )
        record.participants |= description.participants
        if successful:
            for order, spec in enumerate(outcome.effects, start=1):
                effects.append(
                    EffectRecord(
                        operation_id=op_id,
                        order=order,
                        account=spec.account,
                        type=spec.type,
                        type_i=EFFECT_TYPE_I[spec.type],
                        details=spec.details,
                        closed_at=close_time,
                    )
                )
    return AppliedTransaction(record, operations, effects, op_results, fee, code)
