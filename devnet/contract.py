"""Injected SAC transfers: `invoke_host_function` records without running a contract.

A real Stellar Asset Contract cannot run here, so a test control describes the transfer (from, to,
asset, amount, memo) and the devnet records what Horizon would show for a successful SAC `transfer`
call: an `invoke_host_function` operation with `asset_balance_changes`, in a transaction that pays
its fee and consumes its source's sequence number. The envelope is a real (unsigned) envelope with
the InvokeHostFunction op; signatures and Soroban authorization are not checked.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Any

from stellar_sdk import Account, Address, Memo, MuxedAccount, StrKey, TransactionBuilder, scval
from stellar_sdk import xdr as stellar_xdr

from .amounts import format_amount
from .assets import AssetKey
from .history import EffectRecord, MuxedRef, OperationRecord, TransactionRecord
from .opapply import EFFECT_TYPE_I, amount_details, can_receive, can_send, move
from .results import inner, transaction_result
from .state import BASE_FEE, AccountEntry, Overlay
from .toid import toid
from .txapply import EMPTY_LEDGER_ENTRY_CHANGES, AppliedTransaction, Rejection, reject
from .txparse import memo_info

SCVAL_TYPE_NAMES = {
    stellar_xdr.SCValType.SCV_ADDRESS: "Address",
    stellar_xdr.SCValType.SCV_SYMBOL: "Sym",
    stellar_xdr.SCValType.SCV_I128: "I128",
}
INVOKE_CONTRACT = "HostFunctionTypeHostFunctionTypeInvokeContract"


@dataclass(frozen=True)
class ContractTransfer:
    from_address: str  # G… or C…
    to_address: str  # G…, M… or C…
    asset: AssetKey
    amount: int  # stroops
    source: str  # the G account that submits (pays the fee, consumes a sequence number)
    memo: Memo | None = None

    @property
    def to_ref(self) -> MuxedRef | None:
        """The classic receiving account, or None for a contract."""
        if StrKey.is_valid_contract(self.to_address):
            return None
        muxed = MuxedAccount.from_account(self.to_address)
        if muxed.account_muxed_id is None:
            return MuxedRef(muxed.account_id)
        return MuxedRef(muxed.account_id, muxed.account_muxed, muxed.account_muxed_id)

    @property
    def from_account(self) -> str | None:
        return None if StrKey.is_valid_contract(self.from_address) else self.from_address


def check(accounts: dict[str, AccountEntry], transfer: ContractTransfer) -> None:
    """Raise ValueError when the transfer could not happen on the current ledger."""
    for address in (transfer.from_address, transfer.to_address):
        if not (
            StrKey.is_valid_contract(address)
            or StrKey.is_valid_ed25519_public_key(address)
            or StrKey.is_valid_med25519_public_key(address)
        ):
            raise ValueError(f"invalid address {address!r}")
    if StrKey.is_valid_med25519_public_key(transfer.from_address):
        raise ValueError("`from` must be a G… or C… address")
    if transfer.amount <= 0:
        raise ValueError("amount must be positive")
    if transfer.source not in accounts:
        raise ValueError(f"source account {transfer.source} does not exist")
    problem = _blocked(Overlay(accounts), transfer)
    if problem is not None:
        raise ValueError(problem)


def _blocked(view: Overlay, transfer: ContractTransfer) -> str | None:
    sender = transfer.from_account
    if sender is not None:
        entry = view.get(sender)
        if entry is None:
            return f"`from` account {sender} does not exist"
        refused = can_send(entry, transfer.asset, transfer.amount)
        if refused is not None:
            return f"`from` cannot send: {refused}"
    to = transfer.to_ref
    if to is not None:
        entry = view.get(to.account_id)
        if entry is None:
            return f"`to` account {to.account_id} does not exist"
        refused = can_receive(entry, transfer.asset, transfer.amount)
        if refused is not None:
            return f"`to` cannot receive: {refused}"
    return None


def _arguments(transfer: ContractTransfer) -> list[stellar_xdr.SCVal]:
    """SAC `transfer(from, to, amount)` arguments."""
    return [
        Address(transfer.from_address).to_xdr_sc_val(),
        Address(transfer.to_address).to_xdr_sc_val(),
        scval.to_int128(transfer.amount),
    ]


def _envelope(
    transfer: ContractTransfer, sequence: int, passphrase: str
) -> tuple[str, str, list[stellar_xdr.SCVal]]:
    contract_id = transfer.asset.to_sdk().contract_id(passphrase)
    args = _arguments(transfer)
    builder = TransactionBuilder(Account(transfer.source, sequence - 1), passphrase, base_fee=BASE_FEE)
    builder.append_invoke_contract_function_op(contract_id, "transfer", args)
    if transfer.memo is not None:
        builder.add_memo(transfer.memo)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no time bounds on purpose
        envelope = builder.build()
    every = [Address(contract_id).to_xdr_sc_val(), scval.to_symbol("transfer"), *args]
    return envelope.to_xdr(), envelope.hash_hex(), every


def _details(transfer: ContractTransfer, params: list[stellar_xdr.SCVal], success: bool) -> dict[str, Any]:
    changes: list[dict[str, Any]] = []
    if success:
        change: dict[str, Any] = {
            **transfer.asset.horizon_fields(),
            "type": "transfer",
            "from": transfer.from_address,
        }
        to = transfer.to_ref
        change["to"] = transfer.to_address if to is None else to.account_id
        change["amount"] = format_amount(transfer.amount)
        if to is not None and to.muxed_id is not None:
            change["destination_muxed_id"] = str(to.muxed_id)
        changes.append(change)
    return {
        "function": INVOKE_CONTRACT,
        "parameters": [{"value": p.to_xdr(), "type": SCVAL_TYPE_NAMES[p.type]} for p in params],
        "address": "",
        "salt": "",
        "asset_balance_changes": changes,
    }


def apply_transfer(
    accounts: dict[str, AccountEntry],
    transfer: ContractTransfer,
    passphrase: str,
    ledger_seq: int,
    tx_index: int,
    close_time: int,
) -> AppliedTransaction | Rejection:
    source = accounts.get(transfer.source)
    if source is None:
        return reject(stellar_xdr.TransactionResultCode.txNO_ACCOUNT)
    if source.available_native() < BASE_FEE:
        return reject(stellar_xdr.TransactionResultCode.txINSUFFICIENT_BALANCE)
    sequence = source.seq_num + 1
    envelope_xdr, tx_hash, params = _envelope(transfer, sequence, passphrase)
    source.balance -= BASE_FEE
    source.seq_num = sequence
    source.seq_ledger = ledger_seq
    source.seq_time = close_time
    source.last_modified_ledger = ledger_seq

    view = Overlay(accounts)
    success = _blocked(view, transfer) is None
    if success:
        sender = transfer.from_account
        if sender is not None:
            entry = view.get(sender)
            assert entry is not None
            move(entry, transfer.asset, -transfer.amount, ledger_seq)
        to = transfer.to_ref
        if to is not None:
            entry = view.get(to.account_id)
            assert entry is not None
            move(entry, transfer.asset, transfer.amount, ledger_seq)
        view.commit()
    Code = stellar_xdr.InvokeHostFunctionResultCode
    code = Code.INVOKE_HOST_FUNCTION_SUCCESS if success else Code.INVOKE_HOST_FUNCTION_TRAPPED
    preimage = stellar_xdr.Hash(hashlib.sha256(bytes.fromhex(tx_hash)).digest()) if success else None
    op_result = inner(
        stellar_xdr.OperationType.INVOKE_HOST_FUNCTION,
        code,
        invoke_host_function_result=stellar_xdr.InvokeHostFunctionResult(code, success=preimage),
    )
    tx_code = (
        stellar_xdr.TransactionResultCode.txSUCCESS if success else stellar_xdr.TransactionResultCode.txFAILED
    )
    source_ref = MuxedRef(transfer.source)
    participants = {transfer.source}
    if transfer.from_account is not None:
        participants.add(transfer.from_account)
    if transfer.to_ref is not None:
        participants.add(transfer.to_ref.account_id)
    memo = (
        memo_info(transfer.memo.to_xdr_object())
        if transfer.memo is not None
        else memo_info(stellar_xdr.Memo(stellar_xdr.MemoType.MEMO_NONE))
    )
    record = TransactionRecord(
        hash=tx_hash,
        ledger=ledger_seq,
        index=tx_index,
        closed_at=close_time,
        successful=success,
        source=source_ref,
        source_sequence=sequence,
        fee_account=source_ref,
        fee_charged=BASE_FEE,
        max_fee=BASE_FEE,
        operation_count=1,
        envelope_xdr=envelope_xdr,
        result_xdr=transaction_result(BASE_FEE, tx_code, [op_result]).to_xdr(),
        fee_meta_xdr=EMPTY_LEDGER_ENTRY_CHANGES,
        memo=memo,
        signatures=[],
        time_bounds=None,
        participants=participants,
    )
    op_id = toid(ledger_seq, tx_index, 1)
    operation = OperationRecord(
        id=op_id,
        transaction=record,
        index=1,
        type="invoke_host_function",
        type_i=24,
        source=source_ref,
        details=_details(transfer, params, success),
        participants=participants,
        is_payment=True,
    )
    effects: list[EffectRecord] = []
    if success:
        specs: list[tuple[str, str]] = []
        if transfer.from_account is not None:
            specs.append((transfer.from_account, "account_debited"))
        if transfer.to_ref is not None:
            specs.append((transfer.to_ref.account_id, "account_credited"))
        for order, (account, kind) in enumerate(specs, start=1):
            effects.append(
                EffectRecord(
                    op_id,
                    order,
                    MuxedRef(account),
                    kind,
                    EFFECT_TYPE_I[kind],
                    amount_details(transfer.asset, transfer.amount),
                    close_time,
                )
            )
    return AppliedTransaction(record, [operation], effects, [op_result], BASE_FEE, tx_code)
