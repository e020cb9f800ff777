"""Receipt endpoints."""

from __future__ import annotations

from aiohttp import web

from api.keys import APPLY_CONTEXT, DATABASE
from api.models import AssignReceipt, PaymentOut, ProblemOut, ReceiptList, ReceiptListQuery
from api.problems import not_found
from api.responses import json_response
from api.routes import ROUTES
from api.routes.payments import render
from api.service import assign
from shared.store import receipts as receipt_store
from shared.views import receipt_view


@ROUTES.route(
    "GET",
    "/receipts",
    summary="Receipts; `unmatched=true` lists those no payment claimed (to assign by hand)",
    scope="payments:read",
    query=ReceiptListQuery,
    responses={200: ReceiptList, 401: ProblemOut, 403: ProblemOut, 422: ProblemOut},
    tag="receipts",
)
async def list_receipts(request: web.Request, query: ReceiptListQuery) -> web.Response:
    async with request.app[DATABASE].read() as conn:
        if query.unmatched:
            rows = await receipt_store.list_unmatched(conn, after_id=query.after, limit=query.limit + 1)
        else:
            rows = await receipt_store.list_receipts(conn, after_id=query.after, limit=query.limit + 1)
    page = rows[: query.limit]
    next_cursor = page[-1].id if len(rows) > query.limit else None
    return json_response({"receipts": [receipt_view(r) for r in page], "next_cursor": next_cursor})


@ROUTES.route(
    "POST",
    "/receipts/{receipt_id}/assign",
    summary="Attribute an unmatched receipt to a payment by hand (flag manual)",
    scope="payments:write",
    body=AssignReceipt,
    responses={
        200: PaymentOut,
        400: ProblemOut,
        401: ProblemOut,
        403: ProblemOut,
        404: ProblemOut,
        409: ProblemOut,
        415: ProblemOut,
        422: ProblemOut,
    },
    tag="receipts",
)
async def assign_receipt(request: web.Request, body: AssignReceipt) -> web.Response:
    text = request.match_info["receipt_id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise not_found("receipt")
    row = await assign(request.app[DATABASE], request.app[APPLY_CONTEXT], int(text), body.payment_id)
    return await render(request, row)
