"""API endpoints beyond create/read, on both backends: list, stats, cancel, assign, events,
Idempotency-Key, and the inbound webhook's signature checks (Horizon-backed flows run on the devnet)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from shared.apply import apply_credit, context_from_settings
from shared.domain.assets import NATIVE
from shared.domain.credits import Credit
from shared.domain.references import NO_MEMO, Memo
from shared.signatures import sign_headers
from shared.store.engine import Database
from tests.conftest import make_settings, new_api_key

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
PAYER = "GDV4KECLSZLKRVH4ZTWVAS4I3W2LPAPV66ADFFUZKGIVOTK6GMKGJT53"
INBOUND_SECRET = "whsec_aW5ib3VuZC1zZWNyZXQtZm9yLXRlc3Rz"


@pytest.fixture
def settings(db_url: str) -> Any:
    return make_settings(db_url, [ACCOUNT], inbound_webhook={"secret": INBOUND_SECRET})


@pytest.fixture
async def client(
    db: Database, settings: Any, aiohttp_client: Any
) -> TestClient[web.Request, web.Application]:
    test_client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(settings, db))
    return test_client


@pytest.fixture
async def headers(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {await new_api_key(db)}"}


async def create(client: TestClient[Any, Any], headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"amount": "10", "currency": "XLM", **body}
    response = await client.post("/payments/initiate", json=payload, headers=headers)
    assert response.status == 201, await response.text()
    result: dict[str, Any] = await response.json()
    return result


def credit(
    op: str, *, memo: Memo = NO_MEMO, amount: int = 100_000_000, closed: datetime | None = None
) -> Credit:
    return Credit(
        operation_id=op,
        part=0,
        operation_type="payment",
        destination=ACCOUNT,
        amount=amount,
        asset=NATIVE,
        source=PAYER,
        muxed_id=None,
        memo=memo,
        transaction_hash=op.rjust(64, "0"),
        ledger=int(op) >> 32,
        closed_at=closed or datetime.now(UTC),
        paging_token=op,
    )


async def test_list_payments_filters_and_pages(client: TestClient[Any, Any], headers: dict[str, str]) -> None:
    made = [
        await create(client, headers, order_id=f"o-{i}", buyer_id="b-1" if i % 2 else "b-2") for i in range(5)
    ]
    first = await (await client.get("/payments?limit=2", headers=headers)).json()
    assert [p["id"] for p in first["payments"]] == [made[4]["id"], made[3]["id"]]
    second = await (
        await client.get(f"/payments?limit=2&cursor={first['next_cursor']}", headers=headers)
    ).json()
    third = await (
        await client.get(f"/payments?limit=2&cursor={second['next_cursor']}", headers=headers)
    ).json()
    assert [p["id"] for p in second["payments"] + third["payments"]] == [
        made[2]["id"],
        made[1]["id"],
        made[0]["id"],
    ]
    assert third["next_cursor"] is None
    buyer = await (await client.get("/payments?buyer_id=b-1", headers=headers)).json()
    assert {p["order_id"] for p in buyer["payments"]} == {"o-1", "o-3"}
    by_order = await (await client.get("/payments?order_id=o-2&status=pending", headers=headers)).json()
    assert [p["id"] for p in by_order["payments"]] == [made[2]["id"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = await client.get("/payments", params={"created_after": future}, headers=headers)
    assert (await later.json())["payments"] == []
    for bad in ("status=paid", "limit=0", "cursor=abc", "colour=red", "created_after=yesterday"):
        response = await client.get(f"/payments?{bad}", headers=headers)
        assert response.status == 422, bad


async def test_buyer_stats_never_sum_across_assets(
    client: TestClient[Any, Any], headers: dict[str, str], db: Database, settings: Any
) -> None:
    ctx = context_from_settings(settings)
    xlm = await create(client, headers, order_id="s-1", buyer_id="b-9", amount="10")
    await create(client, headers, order_id="s-2", buyer_id="b-9", amount="5", currency="USDC")
    await create(client, headers, order_id="s-3", buyer_id="b-9", amount="1")
    async with db.write() as conn:
        await apply_credit(
            conn, credit(str(1 << 32 | 1 << 12 | 1), memo=Memo("id", int(xlm["reference"]))), ctx
        )
    stats = await (await client.get("/payments/buyer/b-9/stats", headers=headers)).json()
    assert stats["counts"] == {"pending": 2, "confirmed": 1, "failed": 0, "timeout": 0, "refunded": 0}
    assert stats["confirmed_totals"] == [
        {
            "currency": "XLM",
            "asset": {"code": "XLM", "issuer": None},
            "count": 1,
            "amount": "10.0000000",
            "amount_received": "10.0000000",
        }
    ]


async def test_cancel_only_pending_with_nothing_received(
    client: TestClient[Any, Any], headers: dict[str, str], db: Database, settings: Any
) -> None:
    payment = await create(client, headers, order_id="c-1")
    cancelled = await client.post(f"/payments/{payment['id']}/cancel", headers=headers)
    assert cancelled.status == 200
    body = await cancelled.json()
    assert (body["status"], body["failure_reason"]) == ("failed", "cancelled")
    assert (await client.post(f"/payments/{payment['id']}/cancel", headers=headers)).status == 409
    partial = await create(client, headers, order_id="c-2")
    async with db.write() as conn:
        memo = Memo("id", int(partial["reference"]))
        await apply_credit(
            conn, credit(str(2 << 32 | 1 << 12 | 1), memo=memo, amount=1), context_from_settings(settings)
        )
    assert (await client.post(f"/payments/{partial['id']}/cancel", headers=headers)).status == 409
    assert (await client.post("/payments/pay_nope/cancel", headers=headers)).status == 404


async def test_assign_an_unmatched_receipt(
    client: TestClient[Any, Any], headers: dict[str, str], db: Database, settings: Any
) -> None:
    payment = await create(client, headers, order_id="a-1")
    async with db.write() as conn:
        applied = await apply_credit(
            conn, credit(str(3 << 32 | 1 << 12 | 1)), context_from_settings(settings)
        )
    assert applied is not None
    receipt_id = applied.receipt.id
    missing = await client.post(
        f"/receipts/{receipt_id}/assign", json={"payment_id": "pay_nope"}, headers=headers
    )
    assert missing.status == 422
    assigned = await client.post(
        f"/receipts/{receipt_id}/assign", json={"payment_id": payment["id"]}, headers=headers
    )
    assert assigned.status == 200
    body = await assigned.json()
    assert (body["status"], body["flags"]["manual"], body["amount_received"]) == (
        "confirmed",
        True,
        "10.0000000",
    )
    assert body["receipts"][0]["disposition"] == "accepted"
    again = await client.post(
        f"/receipts/{receipt_id}/assign", json={"payment_id": payment["id"]}, headers=headers
    )
    assert again.status == 409
    assert (
        await client.post("/receipts/999999/assign", json={"payment_id": payment["id"]}, headers=headers)
    ).status == 404
    unmatched = await (await client.get("/receipts?unmatched=true", headers=headers)).json()
    assert unmatched["receipts"] == []


async def test_events_feed_in_id_order_with_type_filter(client: TestClient[Any, Any], db: Database) -> None:
    admin = {"Authorization": f"Bearer {await new_api_key(db)}"}
    reader = {"Authorization": f"Bearer {await new_api_key(db, ('events:read',))}"}
    for i in range(3):
        await create(client, admin, order_id=f"e-{i}")
    await client.post(
        f"/payments/{(await create(client, admin, order_id='e-x'))['id']}/cancel", headers=admin
    )
    feed = await (await client.get("/events?limit=2", headers=reader)).json()
    assert [e["type"] for e in feed["events"]] == ["payment.initiated", "payment.initiated"]
    rest = await (await client.get(f"/events?after={feed['next_after']}", headers=reader)).json()
    ids = [e["id"] for e in feed["events"] + rest["events"]]
    assert ids == sorted(ids)
    assert len(ids) == 5
    failed = await (await client.get("/events?type=payment.failed", headers=reader)).json()
    assert [e["data"]["payment"]["failure_reason"] for e in failed["events"]] == ["cancelled"]
    assert (await client.get("/events?type=payment.exploded", headers=reader)).status == 422
    no_scope = {"Authorization": f"Bearer {await new_api_key(db, ('payments:read',))}"}
    assert (await client.get("/events", headers=no_scope)).status == 403


async def test_idempotency_key_replays_refuses_mismatch_and_concurrency(
    client: TestClient[Any, Any], headers: dict[str, str], db: Database
) -> None:
    body = {"order_id": "i-1", "amount": "10", "currency": "XLM"}
    keyed = {**headers, "Idempotency-Key": "k-1"}
    first = await client.post("/payments/initiate", json=body, headers=keyed)
    replay = await client.post("/payments/initiate", json=body, headers=keyed)
    assert (first.status, replay.status) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await replay.json() == await first.json()
    mismatch = await client.post("/payments/initiate", json={**body, "amount": "11"}, headers=keyed)
    assert mismatch.status == 422
    other_key = {"Authorization": f"Bearer {await new_api_key(db)}", "Idempotency-Key": "k-1"}
    independent = await client.post("/payments/initiate", json={**body, "order_id": "i-2"}, headers=other_key)
    assert independent.status == 201  # keys are scoped to the API key that used them
    # Concurrent duplicates: one runs, the others are told it is in flight (or replayed once it is done).
    burst = {**headers, "Idempotency-Key": "k-burst"}
    results = await asyncio.gather(
        *(
            client.post("/payments/initiate", json={**body, "order_id": "i-3"}, headers=burst)
            for _ in range(8)
        )
    )
    statuses = sorted(r.status for r in results)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    assert sum(1 for r in results if r.status == 201 and "Idempotent-Replayed" not in r.headers) == 1
    assert (
        await client.post("/payments/initiate", json=body, headers={**headers, "Idempotency-Key": ""})
    ).status == 400


async def test_a_duplicate_while_the_first_is_in_flight_is_409(
    db: Database, db_url: str, headers: dict[str, str], aiohttp_client: Any, aiohttp_server: Any
) -> None:
    """The first request is held in flight for sure: verify asks Horizon, which answers only when the
    test lets it. Duplicates meanwhile (same key, same body) are 409; afterwards, a replay."""
    asked: list[str] = []
    horizon_asked = asyncio.Event()
    release = asyncio.Event()

    async def transaction(request: web.Request) -> web.Response:
        asked.append(request.match_info["tx"])
        horizon_asked.set()
        await release.wait()
        problem = {"type": "https://stellar.org/horizon-errors/not_found", "title": "Resource Missing"}
        return web.json_response({**problem, "status": 404}, status=404)

    horizon_app = web.Application()
    horizon_app.router.add_get("/transactions/{tx}", transaction)
    horizon = await aiohttp_server(horizon_app)
    settings = make_settings(db_url, [ACCOUNT], horizon_url=str(horizon.make_url("")).rstrip("/"))
    client = await aiohttp_client(create_app(settings, db))
    payment = await create(client, headers, order_id="held")
    path, body = f"/payments/{payment['id']}/verify", {"transaction_hash": "ab" * 32}
    keyed = {**headers, "Idempotency-Key": "k-held"}

    first = asyncio.create_task(client.post(path, json=body, headers=keyed))
    await asyncio.wait_for(horizon_asked.wait(), 10)  # its key is recorded; Horizon holds its answer
    duplicates = await asyncio.gather(*(client.post(path, json=body, headers=keyed) for _ in range(3)))
    assert [response.status for response in duplicates] == [409, 409, 409]
    assert (await duplicates[0].json())["type"] == "urn:paywatch:problem:conflict"
    release.set()
    done = await first
    assert (done.status, done.headers.get("Idempotent-Replayed")) == (404, None)
    replay = await client.post(path, json=body, headers=keyed)
    assert (replay.status, replay.headers.get("Idempotent-Replayed")) == (404, "true")
    assert asked == ["ab" * 32]  # Horizon was asked once: the duplicates never ran


async def test_idempotency_does_not_keep_server_errors(
    client: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    keyed = {**headers, "Idempotency-Key": "k-err"}
    bad = await client.post("/payments/initiate", json={"order_id": "x"}, headers=keyed)
    assert bad.status == 422  # deterministic: stored and replayed
    replay = await client.post("/payments/initiate", json={"order_id": "x"}, headers=keyed)
    assert (replay.status, replay.headers.get("Idempotent-Replayed")) == (422, "true")


async def test_inbound_webhook_signature_checks(
    client: TestClient[Any, Any], db: Database, settings: Any, aiohttp_client: Any
) -> None:
    body = json.dumps({"transaction_hash": "ab" * 32}).encode()
    unsigned = await client.post(
        "/payments/webhook/stellar", data=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status == 401
    now = int(time.time())
    wrong = sign_headers(["whsec_d3Jvbmctc2VjcmV0"], "msg-1", now, body)
    assert (
        await client.post(
            "/payments/webhook/stellar", data=body, headers={**wrong, "Content-Type": "application/json"}
        )
    ).status == 401
    stale = sign_headers([INBOUND_SECRET], "msg-2", now - 600, body)
    assert (
        await client.post(
            "/payments/webhook/stellar", data=body, headers={**stale, "Content-Type": "application/json"}
        )
    ).status == 401
    tampered = sign_headers([INBOUND_SECRET], "msg-3", now, body)
    response = await client.post(
        "/payments/webhook/stellar",
        data=body.replace(b"ab", b"cd", 1),
        headers={**tampered, "Content-Type": "application/json"},
    )
    assert response.status == 401
    disabled_settings = make_settings(settings.database_url, [ACCOUNT])  # no inbound secret
    disabled = await aiohttp_client(create_app(disabled_settings, db))
    good = sign_headers([INBOUND_SECRET], "msg-4", now, body)
    assert (
        await disabled.post(
            "/payments/webhook/stellar", data=body, headers={**good, "Content-Type": "application/json"}
        )
    ).status == 404
