"""Receipt endpoints."""

from __future__ import annotations

from aiohttp import web

from api.keys import DATABASE
from api.models import ProblemOut, ReceiptList, ReceiptListQuery
from api.routes import ROUTES
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
    return web.json_response({"receipts": [receipt_view(r) for r in page], "next_cursor": next_cursor})
