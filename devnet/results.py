"""Transaction/operation results: real `TransactionResult` XDR and Horizon's result-code strings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from stellar_sdk import xdr as stellar_xdr

TX_CODES: dict[stellar_xdr.TransactionResultCode, str] = {
    stellar_xdr.TransactionResultCode.txSUCCESS: "tx_success",
    stellar_xdr.TransactionResultCode.txFAILED: "tx_failed",
    stellar_xdr.TransactionResultCode.txTOO_EARLY: "tx_too_early",
    stellar_xdr.TransactionResultCode.txTOO_LATE: "tx_too_late",
    stellar_xdr.TransactionResultCode.txMISSING_OPERATION: "tx_missing_operation",
    stellar_xdr.TransactionResultCode.txBAD_SEQ: "tx_bad_seq",
    stellar_xdr.TransactionResultCode.txBAD_AUTH: "tx_bad_auth",
    stellar_xdr.TransactionResultCode.txINSUFFICIENT_BALANCE: "tx_insufficient_balance",
    stellar_xdr.TransactionResultCode.txNO_ACCOUNT: "tx_no_source_account",
    stellar_xdr.TransactionResultCode.txINSUFFICIENT_FEE: "tx_insufficient_fee",
    stellar_xdr.TransactionResultCode.txBAD_AUTH_EXTRA: "tx_bad_auth_extra",
    stellar_xdr.TransactionResultCode.txINTERNAL_ERROR: "tx_internal_error",
    stellar_xdr.TransactionResultCode.txNOT_SUPPORTED: "tx_not_supported",
    stellar_xdr.TransactionResultCode.txMALFORMED: "tx_malformed",
}

OUTER_OP_CODES: dict[stellar_xdr.OperationResultCode, str] = {
    stellar_xdr.OperationResultCode.opBAD_AUTH: "op_bad_auth",
    stellar_xdr.OperationResultCode.opNO_ACCOUNT: "op_no_source_account",
    stellar_xdr.OperationResultCode.opNOT_SUPPORTED: "op_not_supported",
    stellar_xdr.OperationResultCode.opTOO_MANY_SUBENTRIES: "op_too_many_subentries",
}

# Inner result codes, keyed by the XDR enum member *name* (members of different enums share values).
_INNER_SUFFIXES: dict[str, str] = {
    "SUCCESS": "op_success",
    "MALFORMED": "op_malformed",
    "UNDERFUNDED": "op_underfunded",
    "LOW_RESERVE": "op_low_reserve",
    "ALREADY_EXIST": "op_already_exists",
    "SRC_NO_TRUST": "op_src_no_trust",
    "SRC_NOT_AUTHORIZED": "op_src_not_authorized",
    "NO_DESTINATION": "op_no_destination",
    "NO_TRUST": "op_no_trust",
    "NOT_AUTHORIZED": "op_not_authorized",
    "LINE_FULL": "op_line_full",
    "NO_ISSUER": "op_no_issuer",
    "TOO_FEW_OFFERS": "op_too_few_offers",
    "OFFER_CROSS_SELF": "op_cross_self",
    "OVER_SENDMAX": "op_over_source_max",
    "UNDER_DESTMIN": "op_under_dest_min",
    "INVALID_LIMIT": "op_invalid_limit",
    "SELF_NOT_ALLOWED": "op_self_not_allowed",
    "TRUST_LINE_MISSING": "op_trust_line_missing",
    "CANNOT_DELETE": "op_cannot_delete",
    "NOT_AUTH_MAINTAIN_LIABILITIES": "op_not_aut_maintain_liabilities",
    "NO_ACCOUNT": "op_no_account",
    "IMMUTABLE_SET": "op_immutable_set",
    "HAS_SUB_ENTRIES": "op_has_sub_entries",
    "SEQNUM_TOO_FAR": "op_seq_num_too_far",
    "DEST_FULL": "op_dest_full",
    "IS_SPONSOR": "op_is_sponsor",
    "NOT_SUPPORTED_YET": "op_not_supported_yet",
    "NAME_NOT_FOUND": "op_data_name_not_found",
    "INVALID_NAME": "op_data_invalid_name",
    "TRAPPED": "function_trapped",
}

_PREFIXES = (
    "CREATE_ACCOUNT_",
    "PAYMENT_",
    "PATH_PAYMENT_STRICT_RECEIVE_",
    "PATH_PAYMENT_STRICT_SEND_",
    "CHANGE_TRUST_",
    "ACCOUNT_MERGE_",
    "MANAGE_DATA_",
    "INVOKE_HOST_FUNCTION_",
)


def inner_code_string(code: IntEnum) -> str:
    name = code.name
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return _INNER_SUFFIXES[name[len(prefix) :]]
    raise KeyError(name)


@dataclass
class OpResult:
    """One operation's outcome: success flag, Horizon code string and the XDR `OperationResult`."""

    success: bool
    code: str
    xdr: stellar_xdr.OperationResult


def inner(op_type: stellar_xdr.OperationType, code: IntEnum, **result: object) -> OpResult:
    """Wrap an operation-specific result (e.g. `payment_result=PaymentResult(...)`) as opINNER."""
    tr = stellar_xdr.OperationResultTr(op_type, **result)  # type: ignore[arg-type]
    text = inner_code_string(code)
    return OpResult(
        success=text == "op_success",
        code=text,
        xdr=stellar_xdr.OperationResult(stellar_xdr.OperationResultCode.opINNER, tr),
    )


def outer(code: stellar_xdr.OperationResultCode) -> OpResult:
    return OpResult(success=False, code=OUTER_OP_CODES[code], xdr=stellar_xdr.OperationResult(code))


def transaction_result(
    fee_charged: int,
    code: stellar_xdr.TransactionResultCode,
    op_results: list[OpResult] | None = None,
) -> stellar_xdr.TransactionResult:
    results = None if op_results is None else [r.xdr for r in op_results]
    if code in (stellar_xdr.TransactionResultCode.txSUCCESS, stellar_xdr.TransactionResultCode.txFAILED):
        results = results or []
    return stellar_xdr.TransactionResult(
        fee_charged=stellar_xdr.Int64(fee_charged),
        result=stellar_xdr.TransactionResultResult(code, results=results),
        ext=stellar_xdr.TransactionResultExt(0),
    )


def result_codes(
    code: stellar_xdr.TransactionResultCode, op_results: list[OpResult] | None
) -> dict[str, object]:
    """`extras.result_codes` as Horizon renders it (`operations` only when there are op results)."""
    codes: dict[str, object] = {"transaction": TX_CODES[code]}
    if op_results:
        codes["operations"] = [r.code for r in op_results]
    return codes
