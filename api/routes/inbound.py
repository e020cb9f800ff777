"""POST /payments/webhook/stellar: an external notifier reports a transaction (signed, never trusted)."""

from __future__ import annotations

import time

from aiohttp import web

from api.keys import APPLY_CONTEXT, DATABASE, HORIZON, SETTINGS
from api.models import InboundResult, ProblemOut, TransactionReference
from api.problems import Problem, not_found
from api.responses import json_response
from api.routes import ROUTES
from api.service import apply_reported
from shared.signatures import SignatureError, verify
from shared.views import receipt_view

WEBHOOK_ID = web.RequestKey("webhook_message_id", str)


async def authenticate_webhook(request: web.Request) -> None:
    """404 while no inbound secret is configured; 401 on a missing, bad or stale signature."""
    secret = request.app[SETTINGS].inbound_webhook.secret.get_secret_value()
    if not secret:
        raise not_found("inbound webhook (no inbound secret is configured)")
    raw = await request.read()
    try:
        request[WEBHOOK_ID] = verify([secret], request.headers, raw, now=time.time())
    except SignatureError as exc:
        raise Problem(401, str(exc), type_="urn:paywatch:problem:bad-signature") from None


@ROUTES.route(
    "POST",
    "/payments/webhook/stellar",
    summary="Report a transaction (Standard Webhooks signature with the inbound secret); applied by memo only",
    scope=None,
    auth="webhook",
    authenticator=authenticate_webhook,
    body=TransactionReference,
    responses={
        200: InboundResult,
        400: ProblemOut,
        401: ProblemOut,
        404: ProblemOut,
        409: ProblemOut,
        413: ProblemOut,
        415: ProblemOut,
        422: ProblemOut,
        502: ProblemOut,
    },
    tag="payments",
)
async def stellar_webhook(request: web.Request, body: TransactionReference) -> web.Response:
    app = request.app
    result = await apply_reported(
        app[DATABASE],
        app[SETTINGS],
        app[APPLY_CONTEXT],
        app[HORIZON],
        request[WEBHOOK_ID],
        body.transaction_hash,
    )
    return json_response(
        {"transaction_hash": body.transaction_hash, "receipts": [receipt_view(r) for r in result]}
    )
