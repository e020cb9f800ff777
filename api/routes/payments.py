"""Payment endpoints."""

from __future__ import annotations

import structlog
from aiohttp import web

from api.keys import APPLY_CONTEXT, DATABASE, HORIZON, SETTINGS
from api.models import (
    BuyerStats,
    InitiatePayment,
    PaymentList,
    PaymentListQuery,
    PaymentOut,
    ProblemOut,
    TransactionReference,
)
from api.problems import not_found
from api.responses import json_response
from api.routes import ROUTES
from api.service import cancel, initiate, refund, verify
from shared.apply import Details, details_of
from shared.domain.amounts import format_amount
from shared.domain.lifecycle import STATUSES
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store import refunds as refund_store
from shared.store.payments import PaymentRow
from shared.views import asset_view, payment_view

PROBLEMS: dict[int, type[ProblemOut] | None] = {401: ProblemOut, 403: ProblemOut}
log = structlog.get_logger("paywatch.api.payments")


async def render(
    request: web.Request, row: PaymentRow, status: int = 200, details: Details | None = None
) -> web.Response:
    """The payment as JSON; its receipts and refunds are read unless the caller has them."""
    if details is None:
        async with request.app[DATABASE].read() as conn:
            details = await details_of(conn, row.id)
    view = payment_view(row, details.receipts, request.app[APPLY_CONTEXT].view, details.refunds)
    return json_response(view, status=status)


@ROUTES.route(
    "POST",
    "/payments/initiate",
    summary="Create a payment for an order (or return the order's pending one with the same terms)",
    scope="payments:write",
    body=InitiatePayment,
    responses={
        201: PaymentOut,
        200: PaymentOut,
        400: ProblemOut,
        409: ProblemOut,
        413: ProblemOut,
        415: ProblemOut,
        422: ProblemOut,
        **PROBLEMS,
    },
)
async def initiate_payment(request: web.Request, body: InitiatePayment) -> web.Response:
    app = request.app
    row, created = await initiate(app[DATABASE], app[SETTINGS], app[APPLY_CONTEXT], body)
    if created:  # the payment's first journal entry: `journalctl PAYMENT_ID=…` starts here
        log.info(
            "payment initiated",
            payment_id=row.id,
            order_id=row.order_id,
            account=row.destination,
            amount=format_amount(row.amount),
            currency=row.currency,
        )
    # A payment just created has no receipts or refunds yet: nothing to read back.
    return await render(request, row, 201 if created else 200, Details() if created else None)


@ROUTES.route(
    "GET",
    "/payments/{payment_id}",
    summary="A payment",
    scope="payments:read",
    responses={200: PaymentOut, 404: ProblemOut, **PROBLEMS},
)
async def get_payment(request: web.Request) -> web.Response:
    async with request.app[DATABASE].read() as conn:  # one snapshot: the row and its details agree
        row = await payment_store.get_payment(conn, request.match_info["payment_id"])
        details = await details_of(conn, row.id) if row is not None else None
    if row is None:
        raise not_found("payment")
    return await render(request, row, details=details)


@ROUTES.route(
    "GET",
    "/payments/order/{order_id}",
    summary="The latest payment of an order",
    scope="payments:read",
    responses={200: PaymentOut, 404: ProblemOut, **PROBLEMS},
)
async def get_order_payment(request: web.Request) -> web.Response:
    async with request.app[DATABASE].read() as conn:
        row = await payment_store.latest_for_order(conn, request.match_info["order_id"])
    if row is None:
        raise not_found("payment for this order")
    return await render(request, row)


@ROUTES.route(
    "GET",
    "/payments",
    summary="List payments, newest first (filters; cursor pagination with next_cursor)",
    scope="payments:read",
    query=PaymentListQuery,
    responses={200: PaymentList, 422: ProblemOut, **PROBLEMS},
)
async def list_payments(request: web.Request, query: PaymentListQuery) -> web.Response:
    view = request.app[APPLY_CONTEXT].view
    async with request.app[DATABASE].read() as conn:
        rows = await payment_store.list_payments(
            conn,
            status=query.status,
            order_id=query.order_id,
            buyer_id=query.buyer_id,
            created_after=query.created_after,
            created_before=query.created_before,
            before_pk=int(query.cursor) if query.cursor else None,
            limit=query.limit + 1,
        )
        page = rows[: query.limit]
        ids = [row.id for row in page]
        receipts = await receipt_store.for_payments(conn, ids)
        refunds = await refund_store.for_payments(conn, ids)
    next_cursor = str(page[-1].pk) if len(rows) > query.limit else None
    return json_response(
        {
            "payments": [payment_view(row, receipts[row.id], view, refunds[row.id]) for row in page],
            "next_cursor": next_cursor,
        }
    )


@ROUTES.route(
    "GET",
    "/payments/buyer/{buyer_id}/stats",
    summary="A buyer's payments: counts per status and confirmed totals per asset (never summed across assets)",
    scope="payments:read",
    responses={200: BuyerStats, **PROBLEMS},
)
async def buyer_stats(request: web.Request) -> web.Response:
    buyer_id = request.match_info["buyer_id"]
    async with request.app[DATABASE].read() as conn:
        counts, totals = await payment_store.buyer_stats(conn, buyer_id)
    return json_response(
        {
            "buyer_id": buyer_id,
            "counts": {status: counts.get(status, 0) for status in STATUSES},
            "confirmed_totals": [
                {
                    "currency": total.currency,
                    "asset": asset_view(total.asset_code, total.asset_issuer),
                    "count": total.count,
                    "amount": format_amount(total.amount),
                    "amount_received": format_amount(total.amount_received),
                }
                for total in totals
            ],
        }
    )


TRANSACTION_PROBLEMS: dict[int, type[ProblemOut] | None] = {
    404: ProblemOut,
    409: ProblemOut,
    415: ProblemOut,
    422: ProblemOut,
    502: ProblemOut,
    **PROBLEMS,
}


@ROUTES.route(
    "POST",
    "/payments/{payment_id}/verify",
    summary="Apply a transaction to this payment now, re-fetched from Horizon by hash",
    scope="payments:write",
    body=TransactionReference,
    responses={200: PaymentOut, 400: ProblemOut, **TRANSACTION_PROBLEMS},
)
async def verify_payment(request: web.Request, body: TransactionReference) -> web.Response:
    app = request.app
    row = await verify(
        app[DATABASE],
        app[APPLY_CONTEXT],
        app[HORIZON],
        request.match_info["payment_id"],
        body.transaction_hash,
    )
    return await render(request, row)


@ROUTES.route(
    "POST",
    "/payments/{payment_id}/cancel",
    summary="Cancel a pending payment that received nothing (failed, reason cancelled)",
    scope="payments:write",
    responses={200: PaymentOut, 404: ProblemOut, 409: ProblemOut, **PROBLEMS},
)
async def cancel_payment(request: web.Request) -> web.Response:
    row = await cancel(request.app[DATABASE], request.app[APPLY_CONTEXT], request.match_info["payment_id"])
    return await render(request, row)


@ROUTES.route(
    "POST",
    "/payments/{payment_id}/refund",
    summary="Record a verified refund transaction (refunded once refunds cover what was received)",
    scope="payments:write",
    body=TransactionReference,
    responses={200: PaymentOut, 400: ProblemOut, **TRANSACTION_PROBLEMS},
)
async def refund_payment(request: web.Request, body: TransactionReference) -> web.Response:
    app = request.app
    row = await refund(
        app[DATABASE],
        app[APPLY_CONTEXT],
        app[HORIZON],
        request.match_info["payment_id"],
        body.transaction_hash,
    )
    return await render(request, row)
