"""Payment endpoints."""

from __future__ import annotations

from aiohttp import web

from api.keys import APPLY_CONTEXT, DATABASE, SETTINGS
from api.models import InitiatePayment, PaymentOut, ProblemOut
from api.problems import not_found
from api.routes import ROUTES
from api.service import initiate
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store.payments import PaymentRow
from shared.views import payment_view

PROBLEMS: dict[int, type[ProblemOut] | None] = {401: ProblemOut, 403: ProblemOut}


async def render(request: web.Request, row: PaymentRow, status: int = 200) -> web.Response:
    async with request.app[DATABASE].read() as conn:
        receipts = await receipt_store.for_payment(conn, row.id)
    return web.json_response(payment_view(row, receipts, request.app[APPLY_CONTEXT].view), status=status)


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
    return await render(request, row, 201 if created else 200)


@ROUTES.route(
    "GET",
    "/payments/{payment_id}",
    summary="A payment",
    scope="payments:read",
    responses={200: PaymentOut, 404: ProblemOut, **PROBLEMS},
)
async def get_payment(request: web.Request) -> web.Response:
    async with request.app[DATABASE].read() as conn:
        row = await payment_store.get_payment(conn, request.match_info["payment_id"])
    if row is None:
        raise not_found("payment")
    return await render(request, row)


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
