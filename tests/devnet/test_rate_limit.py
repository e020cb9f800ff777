"""Horizon's per-IP request budget (GCRA) and the request counters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from stellar_sdk import Keypair

from devnet import DevNet
from devnet.client import DevnetClient
from devnet.problems import RATE_LIMIT_DETAIL
from devnet.ratelimit import RateLimiter
from devnet.sse import HELLO, error_frame

Funded = Callable[[], Awaitable[Keypair]]
SSE = {"Accept": "text/event-stream"}
LOCAL = "127.0.0.1"


def test_gcra_burst_and_refill() -> None:
    now = [0.0]
    limiter = RateLimiter(per_hour=3600, burst=2, clock=lambda: now[0])
    results = [limiter.take("ip") for _ in range(4)]
    assert [r.limited for r in results] == [False, False, False, True]
    assert [r.remaining for r in results[:3]] == [2, 1, 0]
    assert results[0].limit == 3  # throttled reports burst + 1
    assert results[3].retry_after is not None
    assert 0 < results[3].retry_after <= 1.0
    assert limiter.take("other-ip").limited is False  # budgets are per IP
    now[0] += 1.0  # one token per second at 3600/hour
    assert limiter.take("ip").limited is False
    assert limiter.take("ip").limited is True


async def test_rest_requests_spend_the_budget(
    client: DevnetClient, net: DevNet, session: aiohttp.ClientSession
) -> None:
    await client.set_rate_limit(per_hour=60, burst=2)
    remaining = []
    for _ in range(3):
        async with session.get(f"{client.horizon_url}/ledgers") as response:
            assert response.status == 200
            assert response.headers["X-RateLimit-Limit"] == "3"
            remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    async with session.get(f"{client.horizon_url}/ledgers") as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "60"
        assert response.headers["X-RateLimit-Remaining"] == "0"
        body = await response.json(content_type=None)
        assert (body["type"], body["title"], body["detail"]) == (
            "https://stellar.org/horizon-errors/rate_limit_exceeded",
            "Rate Limit Exceeded",
            RATE_LIMIT_DETAIL,
        )
    # Controls and friendbot are not Horizon requests and are never limited.
    assert (await client.state())["rate_limit"] == {"per_hour": 60, "burst": 2}
    counts = net.request_counts.get(LOCAL)
    assert (counts["rest"], counts["rate_limited"]) == (4, 1)
    await client.disable_rate_limit()
    async with session.get(f"{client.horizon_url}/ledgers") as response:
        assert response.status == 200
        assert "X-RateLimit-Limit" not in response.headers


async def test_exhausted_budget_refuses_a_stream_before_it_starts(
    net: DevNet, horizon: str, session: aiohttp.ClientSession
) -> None:
    net.set_rate_limit(per_hour=60, burst=0)
    async with session.get(f"{horizon}/ledgers") as response:
        assert response.status == 200  # the only token
    async with session.get(f"{horizon}/ledgers", headers=SSE) as response:
        assert response.status == 429
        assert response.headers["Content-Type"] == "application/problem+json; charset=utf-8"


async def test_each_stream_iteration_costs_one_request(
    net: DevNet, client: DevnetClient, session: aiohttp.ClientSession, funded: Funded
) -> None:
    quiet = await funded()
    net.request_counts.reset()
    net.set_rate_limit(per_hour=60, burst=2)  # three iterations: the first query and two ledgers
    url = f"{client.horizon_url}/accounts/{quiet.public_key}/payments"
    async with session.get(url, params={"cursor": "now"}, headers=SSE) as response:
        body = await response.read()  # ledgers keep closing until the budget runs out mid-stream
    text = f"problem: rate_limit_exceeded. full details: {RATE_LIMIT_DETAIL}"
    assert body == HELLO + error_frame(text)
    counts = net.request_counts.get(LOCAL)
    assert (counts["streams"], counts["stream_iterations"], counts["rate_limited"]) == (1, 4, 1)
    assert net.request_counts.budget_spent(LOCAL) == 4
    snapshot = (await client.request_counts())[LOCAL]
    assert snapshot["budget_last_hour"] == 4
