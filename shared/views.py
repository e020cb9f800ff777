"""How a payment and a receipt look outside: in API responses and in event data (one definition)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.domain.amounts import format_amount
from shared.domain.assets import Asset
from shared.domain.references import memo_text_for
from shared.domain.sep7 import pay_uri
from shared.domain.strkeys import muxed_address
from shared.store.payments import PaymentRow
from shared.store.receipts import ReceiptRow
from shared.store.refunds import RefundRow


@dataclass(frozen=True, slots=True)
class ViewContext:
    network_passphrase: str
    muxed_enabled: bool
    public_url: str = ""  # base URL buyers use to reach the API (hosted pages), no trailing slash

    def pay_url(self, payment_id: str) -> str:
        """The payment's hosted checkout page."""
        return f"{self.public_url}/pay/{payment_id}"


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`; fractions only when there are any."""
    if value is None:
        return None
    return _iso(value)


@functools.lru_cache(maxsize=16384)
def _iso(value: datetime) -> str:
    # Cached: a batch renders the same few times (ledger close, recorded_at) thousands of times.
    # isoformat is C code; it omits the fraction when there is none, like Horizon. Stored times are
    # UTC already (the store's type returns them so); anything else is converted first.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"


def asset_view(code: str, issuer: str | None) -> dict[str, Any]:
    return {"code": code, "issuer": issuer}


def payment_asset(row: PaymentRow) -> Asset:
    return Asset(row.asset_code, row.asset_issuer)


def _memo(reference: int, memo_type: str) -> str:
    return str(reference) if memo_type == "id" else memo_text_for(reference)


def memo_of(row: PaymentRow) -> str:
    return _memo(row.reference, row.memo_type)


def _sep7(
    destination: str,
    amount: int,
    asset_code: str,
    asset_issuer: str | None,
    reference: int,
    memo_type: str,
    network_passphrase: str,
) -> str:
    return pay_uri(
        destination=destination,
        amount=amount,
        asset=Asset(asset_code, asset_issuer),
        memo=_memo(reference, memo_type),
        memo_type="MEMO_ID" if memo_type == "id" else "MEMO_TEXT",
        network_passphrase=network_passphrase,
    )


def pay_uri_for(row: PaymentRow, ctx: ViewContext, amount: int) -> str:
    """The payment's SEP-7 request for `amount` (its `pay_uri` asks for the whole amount)."""
    return _sep7(
        row.destination,
        amount,
        row.asset_code,
        row.asset_issuer,
        row.reference,
        row.memo_type,
        ctx.network_passphrase,
    )


def receipt_view(receipt: ReceiptRow) -> dict[str, Any]:
    return {
        "id": receipt.id,
        "operation_id": receipt.operation_id,
        "part": receipt.part,
        "operation_type": receipt.operation_type,
        "transaction_hash": receipt.transaction_hash,
        "ledger": receipt.ledger,
        "closed_at": iso(receipt.closed_at),
        "from": receipt.source,
        "to": receipt.destination,
        "amount": format_amount(receipt.amount),
        "asset": asset_view(receipt.asset_code, receipt.asset_issuer),
        "memo_type": receipt.memo_type,
        "memo": receipt.memo,
        "muxed_id": receipt.muxed_id,
        "disposition": receipt.disposition,
        "reason": receipt.reason,
        "payment_id": receipt.payment_id,
        "recorded_at": iso(receipt.recorded_at),
    }


def refund_view(refund: RefundRow) -> dict[str, Any]:
    return {
        "operation_id": refund.operation_id,
        "transaction_hash": refund.transaction_hash,
        "to": refund.to_account,
        "amount": format_amount(refund.amount),
        "asset": asset_view(refund.asset_code, refund.asset_issuer),
        "ledger": refund.ledger,
        "closed_at": iso(refund.closed_at),
    }


def payment_view(
    row: PaymentRow,
    receipts: Sequence[ReceiptRow],
    ctx: ViewContext,
    refunds: Sequence[RefundRow] = (),
    *,
    receipt_views: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The payment object of SPEC §7. `receipt_views`: already-rendered receipts by id (reused, and
    filled in), for callers that render the same receipts many times."""
    if receipt_views is None:
        shown = [receipt_view(receipt) for receipt in receipts]
    else:
        shown = []
        for receipt in receipts:
            view = receipt_views.get(receipt.id)
            if view is None:
                view = receipt_views[receipt.id] = receipt_view(receipt)
            shown.append(view)
    # The fields fixed when the payment was created come from a cache (one payment's events render
    # them again and again); the key order is the cached dict's, the changing fields are filled in.
    return {
        **_fixed_fields(
            row.id,
            row.order_id,
            row.buyer_id,
            row.amount,
            row.currency,
            row.asset_code,
            row.asset_issuer,
            row.destination,
            row.reference,
            row.memo_type,
            row.metadata,
            row.created_at,
            row.expires_at,
            ctx,
        ),
        "status": row.status,
        "asset": asset_view(row.asset_code, row.asset_issuer),  # a dict: each view gets its own
        "amount_received": format_amount(row.amount_received),
        "overpaid_amount": format_amount(max(0, row.amount_received - row.amount)),
        "amount_refunded": format_amount(row.amount_refunded),
        "flags": {"late": row.flag_late, "overpaid": row.flag_overpaid, "manual": row.flag_manual},
        "failure_reason": row.failure_reason,
        "receipts": shown,
        "refunds": [refund_view(refund) for refund in refunds],
        "stellar_transaction_id": row.stellar_transaction_id,
        "source_account": row.source_account,
        "metadata": json.loads(row.metadata) if row.metadata else None,  # a fresh copy per view
        "updated_at": iso(row.updated_at),
        "confirmed_at": iso(row.confirmed_at),
        "failed_at": iso(row.failed_at),
    }


@functools.lru_cache(maxsize=4096)
def _fixed_fields(
    payment_id: str,
    order_id: str,
    buyer_id: str | None,
    amount: int,
    currency: str,
    asset_code: str,
    asset_issuer: str | None,
    destination: str,
    reference: int,
    memo_type: str,
    metadata: str | None,
    created_at: datetime,
    expires_at: datetime,
    ctx: ViewContext,
) -> dict[str, Any]:
    """Every field of the payment object in order; those that change are placeholders (None).

    Never handed out: callers copy it (`{**fixed, ...}`), so every value here is immutable."""
    return {
        "id": payment_id,
        "order_id": order_id,
        "buyer_id": buyer_id,
        "status": None,
        "amount": format_amount(amount),
        "currency": currency,
        "asset": None,
        "amount_received": None,
        "overpaid_amount": None,
        "amount_refunded": None,
        "destination": destination,
        "muxed_destination": muxed_address(destination, reference) if ctx.muxed_enabled else None,
        "memo_type": memo_type,
        "memo": _memo(reference, memo_type),
        "reference": str(reference),
        "pay_uri": _sep7(
            destination, amount, asset_code, asset_issuer, reference, memo_type, ctx.network_passphrase
        ),
        "pay_url": ctx.pay_url(payment_id),
        "flags": None,
        "failure_reason": None,
        "receipts": None,
        "refunds": None,
        "stellar_transaction_id": None,
        "source_account": None,
        "metadata": None,
        "created_at": iso(created_at),
        "updated_at": None,
        "expires_at": iso(expires_at),
        "confirmed_at": None,
        "failed_at": None,
    }
