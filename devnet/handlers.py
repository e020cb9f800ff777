"""Horizon's resources: collections (REST page or SSE stream), single records, submission, friendbot."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from stellar_sdk import xdr as stellar_xdr

from . import endpoints, render
from .endpoints import Collection
from .faultstream import FaultyStreamLoop
from .guard import admit_stream, stream_gate
from .ledgerheader import PROTOCOL_VERSION
from .network import AlreadyFunded, SubmitOutcome
from .params import PageParams, parse_page
from .problems import (
    bad_request,
    not_found,
    service_unavailable,
    submission_timeout,
    transaction_failed,
    transaction_malformed,
    unsupported_media_type,
)
from .results import transaction_result
from .sse import StreamContext, StreamLoop, wants_stream
from .txparse import MalformedEnvelope, UnsupportedEnvelope
from .webctx import NET, SETTINGS, STOPPING, Handler, base_url, client_ip, hal_response

HORIZON_VERSION = "paywatch-devnet-0.1.0"
CORE_VERSION = "paywatch-devnet (in-memory ledger, no stellar-core)"


# --- collections: one handler serves the REST page and the SSE stream ---------------------------


def _page_url(base: str, request: web.Request, cursor: str, order: str, limit: int) -> str:
    params = [(k, v) for k, v in request.query.items() if k not in ("cursor", "order", "limit")]
    params += [("cursor", cursor), ("order", order), ("limit", str(limit))]
    return f"{base}{request.path}?{render.encode_query(params)}"


async def respond(request: web.Request, collection: Collection) -> web.StreamResponse:
    net = request.app[NET]
    params = parse_page(request, net.latest_ledger, net.elder_ledger, collection.pair_cursor)
    base = base_url(request)
    if wants_stream(request):
        return await _stream(request, collection, params, base)
    if collection.precheck is not None:
        collection.precheck()
    records = collection.fetch(params, base)
    inverted = "asc" if params.descending else "desc"
    first = records[0][0] if records else params.cursor_text
    last = records[-1][0] if records else params.cursor_text
    body = render.page(
        _page_url(base, request, params.cursor_text, params.order, params.limit),
        _page_url(base, request, last, params.order, params.limit),
        _page_url(base, request, first, inverted, params.limit),
        [record for _, record in records],
    )
    response = hal_response(body)
    response.headers["Latest-Ledger"] = str(net.latest_ledger)
    return response


async def _stream(
    request: web.Request, collection: Collection, params: PageParams, base: str
) -> web.StreamResponse:
    net = request.app[NET]
    admit_stream(net, request)
    ctx = stream_context(request, base)
    fault = net.faults.take(request.path, True, ("drop", "repeat", "stall", "garbage"))
    if fault is not None:
        return await FaultyStreamLoop(request, collection, params, ctx, fault).run()
    return await StreamLoop(request, collection, params, ctx).run()


def stream_context(request: web.Request, base: str) -> StreamContext:
    net = request.app[NET]
    stopping = request.app[STOPPING]
    settings = request.app[SETTINGS]

    async def wait_for_change(marker: asyncio.Event, seconds: float) -> bool:
        if stopping.is_set():
            return False
        waiters = [asyncio.ensure_future(marker.wait()), asyncio.ensure_future(stopping.wait())]
        try:
            done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return bool(done) and not stopping.is_set()

    async def wait_stopped() -> None:
        await stopping.wait()

    ip = client_ip(request)

    return StreamContext(
        base=base,
        connection_timeout=settings.connection_timeout,
        change_marker=net.changed,
        wait_for_change=wait_for_change,
        wait_stopped=wait_stopped,
        gate=lambda: stream_gate(net, ip),
    )


# --- single resources ----------------------------------------------------------------------------


async def root(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    latest = net.latest_ledger_record
    body = render.root(
        base_url(request),
        horizon_version=HORIZON_VERSION,
        core_version=CORE_VERSION,
        latest=latest.sequence,
        latest_closed_at=latest.closed_at,
        elder=net.elder_ledger,
        passphrase=net.passphrase,
        protocol_version=PROTOCOL_VERSION,
    )
    return hal_response(body)


async def account(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    account_id = request.match_info["account_id"]
    endpoints.check_account_id(account_id)
    entry = net.account(account_id)
    if entry is None:
        raise not_found()
    modified = net.history.ledger(entry.last_modified_ledger)
    return hal_response(
        render.account(base_url(request), entry, None if modified is None else modified.closed_at)
    )


async def ledger(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    return hal_response(
        render.ledger(base_url(request), endpoints.lookup_ledger(net, request.match_info["ledger_id"]))
    )


async def transaction(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    tx = endpoints.lookup_transaction(net, request.match_info["tx_id"])
    return hal_response(render.transaction(base_url(request), tx))


async def operation(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    op = endpoints.lookup_operation(net, request.match_info["op_id"])
    join = request.query.get("join", "")
    if join not in ("", "transactions"):
        raise bad_request("join", "Accepted values: transactions")
    return hal_response(render.operation(base_url(request), op, join == "transactions"))


# --- submission and friendbot --------------------------------------------------------------------


async def _await_outcome(
    request: web.Request, future: asyncio.Future[SubmitOutcome], tx_hash: str, envelope_xdr: str
) -> SubmitOutcome:
    """Wait for the ledger that settles a submission (504 after the submission timeout)."""
    try:
        return await asyncio.wait_for(asyncio.shield(future), request.app[SETTINGS].submission_timeout)
    except TimeoutError:
        raise submission_timeout(tx_hash, envelope_xdr) from None
    except asyncio.CancelledError:
        if future.cancelled():
            raise service_unavailable() from None  # dropped by a network reset
        raise


async def _settle(
    request: web.Request, future: asyncio.Future[SubmitOutcome], envelope_xdr: str, tx_hash: str
) -> web.StreamResponse:
    outcome = await _await_outcome(request, future, tx_hash, envelope_xdr)
    if outcome.record is not None and outcome.record.successful:
        return hal_response(render.transaction(base_url(request), outcome.record))
    raise transaction_failed(envelope_xdr, outcome.result_xdr, outcome.result_codes)


async def submit_transaction(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    content_type = request.content_type
    if request.can_read_body and content_type not in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        raise unsupported_media_type()
    form = await request.post()
    raw = form.get("tx", "")
    envelope_xdr = raw if isinstance(raw, str) else ""
    try:
        future = net.enqueue_envelope(envelope_xdr)
    except UnsupportedEnvelope:
        result_xdr = transaction_result(0, stellar_xdr.TransactionResultCode.txNOT_SUPPORTED).to_xdr()
        raise transaction_failed(envelope_xdr, result_xdr, {"transaction": "tx_not_supported"}) from None
    except MalformedEnvelope:
        raise transaction_malformed(envelope_xdr) from None
    tx_hash = net.parse(envelope_xdr).hash_hex
    return await _settle(request, future, envelope_xdr, tx_hash)


async def friendbot(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    address = request.query.get("addr", "")
    if not address and request.method == "POST":
        form = await request.post()
        value = form.get("addr", "")
        address = value if isinstance(value, str) else ""
    try:
        future = net.enqueue_friendbot(address)
    except AlreadyFunded:
        raise bad_request(detail="account already funded to starting balance") from None
    except ValueError:
        raise bad_request("addr", "invalid address") from None
    outcome = await _await_outcome(request, future, "", "")
    if outcome.record is None or not outcome.record.successful:
        raise transaction_failed(outcome.envelope_xdr, outcome.result_xdr, outcome.result_codes)
    return hal_response(render.transaction(base_url(request), outcome.record))


# Collection endpoints: path, the endpoints function, and the path parameter it takes (if any).
COLLECTIONS: tuple[tuple[str, Callable[..., Collection], str | None], ...] = (
    ("/accounts/{account_id}/payments", endpoints.account_payments, "account_id"),
    ("/accounts/{account_id}/operations", endpoints.account_operations, "account_id"),
    ("/accounts/{account_id}/transactions", endpoints.account_transactions, "account_id"),
    ("/accounts/{account_id}/effects", endpoints.account_effects, "account_id"),
    ("/payments", endpoints.payments, None),
    ("/operations", endpoints.operations, None),
    ("/transactions", endpoints.transactions, None),
    ("/effects", endpoints.effects, None),
    ("/ledgers", endpoints.ledgers, None),
    ("/ledgers/{ledger_id}/payments", endpoints.ledger_payments, "ledger_id"),
    ("/ledgers/{ledger_id}/operations", endpoints.ledger_operations, "ledger_id"),
    ("/ledgers/{ledger_id}/transactions", endpoints.ledger_transactions, "ledger_id"),
    ("/transactions/{tx_id}/payments", endpoints.transaction_payments, "tx_id"),
    ("/transactions/{tx_id}/operations", endpoints.transaction_operations, "tx_id"),
    ("/transactions/{tx_id}/effects", endpoints.transaction_effects, "tx_id"),
    ("/operations/{op_id}/effects", endpoints.operation_effects, "op_id"),
)


def collection_handler(function: Callable[..., Collection], key: str | None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        net = request.app[NET]
        collection = function(net) if key is None else function(net, request.match_info[key])
        return await respond(request, collection)

    return handler
