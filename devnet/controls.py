"""Test-only controls under `/_devnet/` (never on Horizon's own paths)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

from aiohttp import web
from stellar_sdk import HashMemo, IdMemo, Memo, ReturnHashMemo, TextMemo

from . import assets
from .faults import Fault
from .network import DevNet
from .problems import bad_request
from .toid import toid
from .webctx import NET


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, indent=2), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError:
        raise bad_request(detail="the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise bad_request(detail="the body must be a JSON object")
    return data


def state_snapshot(net: DevNet) -> dict[str, Any]:
    latest = net.latest_ledger_record
    return {
        "latest_ledger": latest.sequence,
        "latest_ledger_closed_at": latest.closed_at,
        "elder_ledger": net.elder_ledger,
        "network_time": net.network_time(),
        "clock_offset_seconds": net.clock_offset,
        "ledger_interval_seconds": net.ledger_interval,
        "passphrase": net.passphrase,
        "root_account": net.root_keypair.public_key,
        "friendbot_account": net.friendbot_keypair.public_key,
        "pending_transactions": net.pending_count,
        "rates": [
            {"send_asset": s.canonical(), "dest_asset": d.canonical(), "numerator": n, "denominator": m}
            for s, d, n, m in net.rates.items()
        ],
        "rate_limit": None if net.rate_limiter is None else net.rate_limiter.describe(),
        "faults": [f.as_dict() for f in net.faults.active()],
        "request_counts": net.request_counts.snapshot(),
    }


async def close_ledger(request: web.Request) -> web.StreamResponse:
    sequence = await request.app[NET].close_ledger()
    return _json({"ledger": sequence})


async def clock(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    body = await _body(request)
    offset = body.get("offset_seconds")
    if not isinstance(offset, int | float) or isinstance(offset, bool):
        raise bad_request("offset_seconds", "a number of seconds is required")
    net.set_clock_offset(float(offset))
    return _json({"offset_seconds": net.clock_offset, "network_time": net.network_time()})


async def state(request: web.Request) -> web.StreamResponse:
    return _json(state_snapshot(request.app[NET]))


async def reset(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    await net.reset()
    return _json({"ledger": net.latest_ledger})


async def rates(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    body = await _body(request)
    try:
        send = assets.parse(str(body["send_asset"]))
        dest = assets.parse(str(body["dest_asset"]))
        net.set_rate(send, dest, int(body["numerator"]), int(body["denominator"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_request(detail=f"expected send_asset, dest_asset, numerator, denominator: {exc}") from None
    return _json(state_snapshot(net)["rates"])


def memo_from_json(body: dict[str, Any]) -> Memo | None:
    """`memo_type` none/text/id/hash/return and `memo` (hash/return as 64 hex digits or base64)."""
    kind = body.get("memo_type", "none")
    value = body.get("memo")
    if kind == "none":
        return None
    if kind == "text":
        return TextMemo(str(value))
    if kind == "id":
        return IdMemo(int(str(value)))
    if kind in ("hash", "return"):
        text = str(value)
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
        return HashMemo(raw) if kind == "hash" else ReturnHashMemo(raw)
    raise ValueError(f"unknown memo_type {kind!r}")


async def contract_transfer(request: web.Request) -> web.StreamResponse:
    """Inject a SAC transfer; answers when its ledger has closed."""
    net = request.app[NET]
    body = await _body(request)
    try:
        future = net.inject_contract_transfer(
            from_address=str(body["from"]),
            to_address=str(body["to"]),
            asset=assets.parse(str(body.get("asset", "native"))),
            amount=str(body["amount"]),
            memo=memo_from_json(body),
            source=body.get("source"),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise bad_request(detail=f"cannot inject this transfer: {exc}") from None
    outcome = await asyncio.shield(future)
    record = outcome.record
    if record is None:
        raise bad_request(detail=f"the transfer was refused at ledger close: {outcome.result_codes}")
    return _json(
        {
            "hash": record.hash,
            "ledger": record.ledger,
            "operation_id": str(toid(record.ledger, record.index, 1)),
            "successful": record.successful,
        }
    )


FAULT_FIELDS = frozenset(Fault.__dataclass_fields__) - {"id", "fired", "created_at"}


async def list_faults(request: web.Request) -> web.StreamResponse:
    return _json([f.as_dict() for f in request.app[NET].faults.active()])


async def add_fault(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    unknown = set(body) - FAULT_FIELDS
    if unknown:
        raise bad_request(detail=f"unknown fault fields: {sorted(unknown)}")
    try:
        fault = request.app[NET].faults.add(Fault(**body))
    except (TypeError, ValueError) as exc:
        raise bad_request(detail=f"invalid fault: {exc}") from None
    return _json(fault.as_dict(), status=201)


async def clear_faults(request: web.Request) -> web.StreamResponse:
    request.app[NET].faults.clear()
    return _json([])


async def remove_fault(request: web.Request) -> web.StreamResponse:
    fault_id = request.match_info["fault_id"]
    if not fault_id.isdigit() or not request.app[NET].faults.remove(int(fault_id)):
        raise bad_request("fault_id", "no such fault")
    return _json({"removed": int(fault_id)})


async def rate_limit(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    if request.method == "POST":
        body = await _body(request)
        if body.get("enabled") is False:
            net.disable_rate_limit()
        else:
            try:
                net.set_rate_limit(int(body.get("per_hour", 3600)), int(body.get("burst", 100)))
            except (TypeError, ValueError) as exc:
                raise bad_request(detail=f"invalid rate limit: {exc}") from None
    return _json(None if net.rate_limiter is None else net.rate_limiter.describe())


async def requests(request: web.Request) -> web.StreamResponse:
    net = request.app[NET]
    if request.method == "DELETE":
        net.request_counts.reset()
    return _json(net.request_counts.snapshot())


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/_devnet/close_ledger", close_ledger)
    r.add_post("/_devnet/clock", clock)
    r.add_get("/_devnet/state", state)
    r.add_post("/_devnet/reset", reset)
    r.add_post("/_devnet/rates", rates)
    r.add_post("/_devnet/contract_transfer", contract_transfer)
    r.add_get("/_devnet/faults", list_faults)
    r.add_post("/_devnet/faults", add_fault)
    r.add_delete("/_devnet/faults", clear_faults)
    r.add_delete("/_devnet/faults/{fault_id}", remove_fault)
    r.add_get("/_devnet/rate_limit", rate_limit)
    r.add_post("/_devnet/rate_limit", rate_limit)
    r.add_get("/_devnet/requests", requests)
    r.add_delete("/_devnet/requests", requests)
