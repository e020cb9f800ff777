"""Operation record fields (after the common base) in Go struct order, plus participants.

These depend only on the operation as submitted; result-dependent values (a path payment's
amounts) are patched in by the applier.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from stellar_sdk import xdr as stellar_xdr

from . import assets
from .amounts import format_amount
from .history import MuxedRef
from .txparse import account_id_of, muxed_ref
from .xdrutil import req

OP_TYPE_NAMES: dict[int, str] = {
    0: "create_account",
    1: "payment",
    2: "path_payment_strict_receive",
    3: "manage_sell_offer",
    4: "create_passive_sell_offer",
    5: "set_options",
    6: "change_trust",
    7: "allow_trust",
    8: "account_merge",
    9: "inflation",
    10: "manage_data",
    11: "bump_sequence",
    12: "manage_buy_offer",
    13: "path_payment_strict_send",
    14: "create_claimable_balance",
    15: "claim_claimable_balance",
    16: "begin_sponsoring_future_reserves",
    17: "end_sponsoring_future_reserves",
    18: "revoke_sponsorship",
    19: "clawback",
    20: "clawback_claimable_balance",
    21: "set_trust_line_flags",
    22: "liquidity_pool_deposit",
    23: "liquidity_pool_withdraw",
    24: "invoke_host_function",
    25: "extend_footprint_ttl",
    26: "restore_footprint",
}

# Horizon's OnlyPayments(): these types always count as payments.
PAYMENT_TYPES = frozenset({0, 1, 2, 8, 13})


@dataclass
class Description:
    details: dict[str, Any]
    participants: set[str]
    is_payment: bool


def muxed_fields(prefix: str, ref: MuxedRef) -> dict[str, Any]:
    """`<prefix>`, `<prefix>_muxed`, `<prefix>_muxed_id` (a JSON string); the last two only for M…."""
    fields: dict[str, Any] = {prefix: ref.account_id}
    if ref.muxed_address is not None:
        fields[f"{prefix}_muxed"] = ref.muxed_address
        fields[f"{prefix}_muxed_id"] = str(ref.muxed_id)
    return fields


def describe(body: stellar_xdr.OperationBody, source: MuxedRef) -> Description:
    kind = body.type
    T = stellar_xdr.OperationType
    participants = {source.account_id}
    details: dict[str, Any]
    if kind == T.CREATE_ACCOUNT:
        op = req(body.create_account_op)
        destination = account_id_of(op.destination)
        details = {
            "starting_balance": format_amount(op.starting_balance.int64),
            **muxed_fields("funder", source),
            "account": destination,
        }
        participants.add(destination)
    elif kind == T.PAYMENT:
        pay = req(body.payment_op)
        to = muxed_ref(pay.destination)
        details = {
            **assets.from_xdr(pay.asset).horizon_fields(),
            **muxed_fields("from", source),
            **muxed_fields("to", to),
            "amount": format_amount(pay.amount.int64),
        }
        participants.add(to.account_id)
    elif kind == T.PATH_PAYMENT_STRICT_RECEIVE:
        pr = req(body.path_payment_strict_receive_op)
        to = muxed_ref(pr.destination)
        details = {
            **assets.from_xdr(pr.dest_asset).horizon_fields(),
            **muxed_fields("from", source),
            **muxed_fields("to", to),
            "amount": format_amount(pr.dest_amount.int64),
            "path": [assets.from_xdr(a).horizon_fields() for a in pr.path],
            "source_amount": format_amount(0),
            "source_max": format_amount(pr.send_max.int64),
            **assets.from_xdr(pr.send_asset).horizon_fields("source_"),
        }
        participants.add(to.account_id)
    elif kind == T.PATH_PAYMENT_STRICT_SEND:
        ps = req(body.path_payment_strict_send_op)
        to = muxed_ref(ps.destination)
        details = {
            **assets.from_xdr(ps.dest_asset).horizon_fields(),
            **muxed_fields("from", source),
            **muxed_fields("to", to),
            "amount": format_amount(0),
            "path": [assets.from_xdr(a).horizon_fields() for a in ps.path],
            "source_amount": format_amount(ps.send_amount.int64),
            "destination_min": format_amount(ps.dest_min.int64),
            **assets.from_xdr(ps.send_asset).horizon_fields("source_"),
        }
        participants.add(to.account_id)
    elif kind == T.CHANGE_TRUST:
        ct = req(body.change_trust_op)
        asset = assets.from_change_trust_xdr(ct.line)
        details = (
            dict(asset.horizon_fields()) if asset is not None else {"asset_type": "liquidity_pool_shares"}
        )
        details["limit"] = format_amount(ct.limit.int64)
        if asset is not None and not asset.is_native:
            details["trustee"] = asset.issuer
        details.update(muxed_fields("trustor", source))
    elif kind == T.ACCOUNT_MERGE:
        into = muxed_ref(req(body.destination))
        details = {**muxed_fields("account", source), **muxed_fields("into", into)}
        participants.add(into.account_id)
    elif kind == T.MANAGE_DATA:
        md = req(body.manage_data_op)
        value = md.data_value
        details = {
            "name": md.data_name.string64.decode("utf-8", "replace"),
            "value": "" if value is None else base64.b64encode(value.data_value).decode(),
        }
    else:
        details = {}
    return Description(details, participants, int(kind) in PAYMENT_TYPES)
