"""The hosted pages: the buyer's checkout page (public) and the operator console (static; it calls the
JSON API with the key the operator enters), with their static files.

They are in the route table like every route, so /openapi.json documents them too: as `text/html`
(or CSS, JavaScript, SVG) responses under the tag `pages`. The checkout page's live status,
`GET /pay/{payment_id}/status`, is a JSON route like the others.
"""

from __future__ import annotations

import re

from aiohttp import web

from api.checkout import PAYABLE, page_fields, qr_svg, qr_title, remaining_uri, state_of, status_view
from api.keys import APPLY_CONTEXT, DATABASE
from api.models import CheckoutStatus, ProblemOut
from api.pages import ASSETS, StaticFile, html_page, render, serve_asset
from api.problems import Problem, not_found
from api.responses import json_response
from api.routes import ROUTES
from api.routing import HTML, Media
from shared.store import payments as payment_store
from shared.store.payments import PaymentRow

PAYMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
QR_HEADERS = {
    "Cache-Control": "no-store",  # it follows the amount still missing
    "Content-Security-Policy": "default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}


async def _payment(request: web.Request) -> PaymentRow | None:
    payment_id = request.match_info["payment_id"]
    if not PAYMENT_ID.fullmatch(payment_id):
        return None
    async with request.app[DATABASE].read() as conn:
        return await payment_store.get_payment(conn, payment_id)


@ROUTES.route(
    "GET",
    "/pay/{payment_id}",
    summary="The hosted checkout page of a payment, for the buyer (HTML; no key: the id is unguessable)",
    scope=None,
    responses={200: HTML, 404: Media(("text/html",), "No such payment (an HTML page)")},
    tag="pages",
)
async def checkout_page(request: web.Request) -> web.Response:
    row = await _payment(request)
    if row is None:
        return html_page(render("not_found.html", "../", {}), status=404)
    ctx = request.app[APPLY_CONTEXT]
    return html_page(render("checkout.html", "../", page_fields(row, ctx, ctx.now())))


@ROUTES.route(
    "GET",
    "/pay/{payment_id}/status",
    summary="The checkout page's live status: state, wording and amounts for the buyer (no key)",
    scope=None,
    responses={200: CheckoutStatus, 404: ProblemOut},
    tag="pages",
)
async def checkout_status(request: web.Request) -> web.Response:
    row = await _payment(request)
    if row is None:
        raise not_found("payment")
    view = status_view(row, request.app[APPLY_CONTEXT])
    return json_response(view, headers={"Cache-Control": "no-store"})


@ROUTES.route(
    "GET",
    "/pay/{payment_id}/qr.svg",
    summary="QR code (SVG) of the SEP-7 request for the amount still missing (no key)",
    scope=None,
    responses={200: Media(("image/svg+xml",)), 404: ProblemOut, 410: ProblemOut},
    tag="pages",
)
async def checkout_qr(request: web.Request) -> web.Response:
    row = await _payment(request)
    if row is None:
        raise not_found("payment")
    ctx = request.app[APPLY_CONTEXT]
    if state_of(row, ctx) not in PAYABLE:
        raise Problem(410, "this payment request no longer accepts funds", type_="urn:paywatch:problem:gone")
    body = qr_svg(remaining_uri(row, ctx), qr_title(row))
    return web.Response(body=body, content_type="image/svg+xml", headers=QR_HEADERS)


@ROUTES.route(
    "GET",
    "/console",
    summary="The operator console (HTML). Static: it shows what the JSON API returns for the key entered",
    scope=None,
    responses={200: HTML},
    tag="pages",
)
async def console_page(request: web.Request) -> web.Response:
    return html_page(render("console.html", "", {}))


def _register_asset(asset: StaticFile) -> None:
    async def handler(request: web.Request) -> web.Response:
        return serve_asset(request, asset)

    handler.__name__ = "asset_" + re.sub(r"\W", "_", asset.name)
    ROUTES.route(
        "GET",
        f"/assets/{asset.name}",
        summary=f"A static file of the hosted pages ({asset.content_type})",
        scope=None,
        responses={200: Media((asset.content_type,)), 304: None},
        tag="pages",
    )(handler)


for _asset in ASSETS.values():
    _register_asset(_asset)
