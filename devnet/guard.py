"""Request counting, injected 429/503 answers and Horizon's per-IP rate limit."""

from __future__ import annotations

from aiohttp import web

from .network import DevNet
from .problems import Problem, rate_limit_exceeded, service_unavailable
from .sse import wants_stream
from .webctx import NET, STREAMABLE_PREFIX, Handler, client_ip


def status_fault(net: DevNet, request: web.Request, stream: bool) -> Problem | None:
    """The refusal an injected `status` fault makes of this request, if one applies."""
    fault = net.faults.take(request.path, stream, ("status",))
    if fault is None:
        return None
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return rate_limit_exceeded(headers) if fault.status == 429 else service_unavailable(headers)


def admit_stream(net: DevNet, request: web.Request) -> None:
    """A new stream connection: counted, logged, and refused if a `status` fault says so."""
    ip = client_ip(request)
    net.request_counts.add(ip, "streams")
    refusal = status_fault(net, request, stream=True)
    net.request_counts.record(
        ip, request.path, stream=True, refused=None if refusal is None else refusal.status
    )
    if refusal is not None:
        raise refusal


def _is_horizon_rest(request: web.Request) -> bool:
    """Requests Horizon's HTTP rate limiter sees: not streams, not friendbot, not devnet controls."""
    path = request.path
    if path.startswith("/_devnet/") or path == "/friendbot":
        return False
    route = request.match_info.route
    streamable = route.name is not None and route.name.startswith(STREAMABLE_PREFIX)
    return not (streamable and wants_stream(request))


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request counting, injected 429/503 answers and Horizon's rate limit for REST requests."""
    if not _is_horizon_rest(request):
        return await handler(request)
    net = request.app[NET]
    ip = client_ip(request)
    net.request_counts.add(ip, "rest")
    refusal = status_fault(net, request, stream=False)
    limiter = net.rate_limiter
    verdict = None if refusal is not None or limiter is None else limiter.take(ip)
    if verdict is not None and verdict.limited:
        net.request_counts.add(ip, "rate_limited")
        refusal = rate_limit_exceeded(verdict.headers())
    net.request_counts.record(
        ip, request.path, stream=False, refused=None if refusal is None else refusal.status
    )
    if refusal is not None:
        raise refusal
    if verdict is None:
        return await handler(request)
    try:
        response = await handler(request)
    except Problem as problem:
        problem.headers.update(verdict.headers())
        raise
    response.headers.update(verdict.headers())
    return response


def stream_gate(net: DevNet, ip: str) -> None:
    """Run before each stream iteration (the first query and one per new ledger): it costs a request."""
    net.request_counts.add(ip, "stream_iterations")
    limiter = net.rate_limiter
    if limiter is not None and limiter.take(ip).limited:
        net.request_counts.add(ip, "rate_limited")
        raise rate_limit_exceeded()
