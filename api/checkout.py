"""The hosted checkout page's view of a payment: what a buyer needs to pay it, and nothing more.

A buyer sees the amount and asset, where to send it (destination + memo, or the muxed address, or
the SEP-7 request as a QR code), the deadline, and how far the payment got. Never the order id,
the buyer id, metadata, receipts (other payers, transaction hashes) or refunds: the page is public
to anyone who has its URL. Every sentence shown is written here; the page's script only displays
the strings it is given (amounts included: it never computes with money).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import segno

from shared.apply import ApplyContext
from shared.domain.amounts import format_amount
from shared.domain.lifecycle import required_amount
from shared.domain.strkeys import muxed_address
from shared.store.payments import PaymentRow
from shared.views import iso, memo_of, pay_uri_for

State = Literal["awaiting", "underpaid", "paid", "paid_late", "expired", "cancelled", "refunded"]
PAYABLE: frozenset[State] = frozenset({"awaiting", "underpaid"})


def state_of(row: PaymentRow, ctx: ApplyContext) -> State:
    """The buyer's view of the payment's status (SPEC §3 statuses and flags, in the buyer's words)."""
    if row.status == "pending":
        return "underpaid" if row.amount_received > 0 else "awaiting"
    if row.status == "refunded":
        return "refunded"
    if row.status == "failed" and row.failure_reason == "cancelled":
        return "cancelled"
    if row.status == "confirmed":
        # Late only when the late funds were needed: a payment completed on time that later received
        # more (flag late, overpaid) was still paid on time.
        on_time = row.amount_received - row.amount_late
        return "paid" if on_time >= required_amount(row.amount, ctx.policy.tolerance_percent) else "paid_late"
    return "paid_late" if row.flag_late else "expired"  # timeout, failed/underpaid


@dataclass(frozen=True, slots=True)
class Wording:
    title: str
    message: str


def wording(row: PaymentRow, state: State) -> Wording:
    code = row.asset_code
    amount = f"{format_amount(row.amount)} {code}"
    received = f"{format_amount(row.amount_received)} {code}"
    remaining = f"{format_amount(max(0, row.amount - row.amount_received))} {code}"
    if state == "awaiting":
        return Wording(
            "Waiting for your payment",
            f"Send {amount} using the details below. This page updates by itself when it arrives.",
        )
    if state == "underpaid":
        return Wording(
            "Underpaid — send the rest",
            f"{received} arrived; {remaining} is still missing. "
            "Send the rest to the same destination with the same memo before the time runs out.",
        )
    if state == "paid":
        extra = ""
        if row.amount_received > row.amount:
            overpaid = format_amount(row.amount_received - row.amount)
            extra = f" You sent {overpaid} {code} more than asked; the merchant can refund it."
        return Wording("Paid", f"{received} received. Thank you — you can close this page.{extra}")
    if state == "paid_late":
        if row.status == "confirmed":
            return Wording(
                "Paid late",
                f"{received} received after the deadline, and accepted. Thank you — you can close this page.",
            )
        return Wording(
            "Paid late",
            f"{received} arrived after this payment request expired. "
            "The merchant will either complete your order or refund you.",
        )
    if state == "expired":
        if row.amount_received == 0:
            return Wording(
                "Expired",
                "This payment request expired before any payment arrived. "
                "Don't send anything to it; ask the merchant for a new one.",
            )
        return Wording(
            "Expired",
            f"This payment request expired with {received} of {amount} received. "
            "The merchant will refund you or ask for the rest with a new request.",
        )
    if state == "cancelled":
        return Wording("Cancelled", "The merchant cancelled this payment request. Don't send anything to it.")
    return Wording("Refunded", "The merchant refunded this payment.")


def status_view(row: PaymentRow, ctx: ApplyContext) -> dict[str, Any]:
    """`GET /pay/{id}/status`: the state, its wording, and the amounts as 7-decimal strings."""
    state = state_of(row, ctx)
    words = wording(row, state)
    return {
        "id": row.id,
        "state": state,
        "payable": state in PAYABLE,
        "title": words.title,
        "message": words.message,
        "amount": format_amount(row.amount),
        "amount_received": format_amount(row.amount_received),
        "amount_remaining": format_amount(max(0, row.amount - row.amount_received)),
        "asset_code": row.asset_code,
        "pay_uri": remaining_uri(row, ctx),
        "expires_at": iso(row.expires_at),
        "server_time": iso(ctx.now()),
    }


def remaining_uri(row: PaymentRow, ctx: ApplyContext) -> str:
    """The SEP-7 request for what is still missing (the whole amount until something arrived)."""
    return pay_uri_for(row, ctx.view, max(0, row.amount - row.amount_received))


@functools.lru_cache(maxsize=256)
def qr_svg(uri: str, title: str) -> bytes:
    """A QR code of `uri` as a standalone SVG document (black on white, quiet zone of 4 modules)."""
    code = segno.make(uri, error="m")
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        scale=1,
        border=4,
        omitsize=True,
        xmldecl=True,
        title=title,
        dark="#000",
        light="#fff",
    )
    return out.getvalue()


def qr_title(row: PaymentRow) -> str:
    return f"Stellar payment request for {format_amount(max(0, row.amount - row.amount_received))} {row.asset_code}"


def page_fields(row: PaymentRow, ctx: ApplyContext, now: datetime) -> dict[str, str]:
    """The values the checkout template shows (unescaped; the template renderer escapes them)."""
    state = state_of(row, ctx)
    words = wording(row, state)
    muxed = ctx.view.muxed_enabled
    return {
        "pay_hidden": "" if state in PAYABLE else "hidden",
        "issuer_hidden": "" if row.asset_issuer else "hidden",
        "muxed_hidden": "" if muxed else "hidden",
        "payment_id": row.id,
        "state": state,
        "title": words.title,
        "message": words.message,
        "amount": format_amount(row.amount),
        "amount_remaining": format_amount(max(0, row.amount - row.amount_received)),
        "amount_received": format_amount(row.amount_received),
        "asset_code": row.asset_code,
        "asset_issuer": row.asset_issuer or "",
        "destination": row.destination,
        "memo": memo_of(row),
        "memo_kind": "ID" if row.memo_type == "id" else "text",
        "muxed": muxed_address(row.destination, row.reference) if muxed else "",
        "pay_uri": remaining_uri(row, ctx),
        "expires_at": iso(row.expires_at) or "",
        "expires_text": row.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        "server_time": iso(now) or "",
    }
