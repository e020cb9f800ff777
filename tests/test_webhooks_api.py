"""The webhook API on both backends: the delivery log, filters and pages, redelivery, endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from shared.clock import utcnow
from shared.config import Settings
from shared.store import webhooks as webhook_store
from shared.store.engine import Database
from tests.conftest import make_settings, new_api_key
from tests.webhook_support import HANG, Receiver, dispatching, endpoint, receiving, with_webhooks

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"


@dataclass
class Setup:
    api: TestClient[Any, Any]
    db: Database
    settings: Settings
    receiver: Receiver
    headers: dict[str, str]  # webhooks:manage
    payments: dict[str, str]  # payments:write only

    async def initiate(self, order_id: str) -> dict[str, Any]:
        body = {"order_id": order_id, "amount": "5", "currency": "XLM"}
        response = await self.api.post("/payments/initiate", json=body, headers=self.payments)
        assert response.status == 201
        created: dict[str, Any] = await response.json()
        return created

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        response = await self.api.get(path, params=params, headers=self.headers)
        return response.status, await response.json()


@pytest.fixture
async def setup(db: Database, db_url: str, aiohttp_client: Any) -> AsyncIterator[Setup]:
    async with receiving() as receiver:
        settings = with_webhooks(
            make_settings(db_url, [ACCOUNT]),
            [
                # Credentials and a token in the URL: never shown by the API.
                endpoint("orders", receiver.url("orders").replace("://", "://user:pw@") + "?token=t0k3n"),
                endpoint("audit", receiver.url("audit"), events=["payment.confirmed"]),
            ],
        )
        api = await aiohttp_client(create_app(settings, db))
        manage = {"Authorization": f"Bearer {await new_api_key(db, ('webhooks:manage',))}"}
        write = {"Authorization": f"Bearer {await new_api_key(db, ('payments:write',))}"}
        yield Setup(api, db, settings, receiver, manage, write)


async def test_the_delivery_log_with_filters_and_pages(setup: Setup) -> None:
    created = [await setup.initiate(f"o-{i}") for i in range(3)]  # the API's own events are queued too
    status, page = await setup.get("/webhooks/deliveries", limit="2")
    assert status == 200
    assert [d["status"] for d in page["deliveries"]] == ["pending", "pending"]
    assert page["next_cursor"] is not None
    status, rest = await setup.get("/webhooks/deliveries", limit="2", cursor=page["next_cursor"])
    assert rest["next_cursor"] is None
    listed = page["deliveries"] + rest["deliveries"]
    assert [d["id"] for d in listed] == sorted((d["id"] for d in listed), reverse=True)  # newest first
    first = listed[-1]
    assert (first["endpoint"], first["event_type"], first["attempts"], first["attempt_log"]) == (
        "orders",
        "payment.initiated",
        0,
        [],
    )
    assert first["in_flight"] is False
    assert first["next_attempt_at"] == first["created_at"]

    for query, count in [
        ({"status": "pending"}, 3),
        ({"status": "delivered"}, 0),
        ({"event_type": "payment.initiated"}, 3),
        ({"event_type": "payment.confirmed"}, 0),
        ({"endpoint": "orders"}, 3),
        ({"endpoint": "audit"}, 0),
        ({"endpoint": "nobody"}, 0),
        ({"event_id": str(first["event_id"])}, 1),
    ]:
        status, found = await setup.get("/webhooks/deliveries", **query)
        assert (status, len(found["deliveries"])) == (200, count), query

    status, one = await setup.get(f"/webhooks/deliveries/{first['id']}")
    assert status == 200
    assert one["payload"]["id"] == first["event_id"]
    assert one["payload"]["data"]["payment"]["id"] == created[0]["id"]
    assert one["payload"]["api_version"]

    for bad in (
        {"status": "sent"},
        {"event_type": "payment.bogus"},
        {"cursor": "abc"},
        {"limit": "0"},
        {"x": "1"},
        {"endpoint": "nul\x00"},
    ):
        response = await setup.api.get("/webhooks/deliveries", params=bad, headers=setup.headers)
        assert response.status == 422, bad
        assert response.content_type == "application/problem+json"
    for missing in ("/webhooks/deliveries/999999", "/webhooks/deliveries/abc"):
        assert (await setup.get(missing))[0] == 404
    odd = await setup.api.post("/webhooks/endpoints/nul%00/enable", headers=setup.headers)
    assert odd.status == 404


async def test_the_webhooks_manage_scope_is_required(setup: Setup) -> None:
    for method, path in [
        ("GET", "/webhooks/deliveries"),
        ("GET", "/webhooks/deliveries/1"),
        ("POST", "/webhooks/deliveries/1/redeliver"),
        ("GET", "/webhooks/endpoints"),
        ("POST", "/webhooks/endpoints/orders/enable"),
    ]:
        forbidden = await setup.api.request(method, path, headers=setup.payments)
        assert forbidden.status == 403, path
        assert (await forbidden.json())["type"] == "urn:paywatch:problem:forbidden"
        assert (await setup.api.request(method, path)).status == 401
    document = await (await setup.api.get("/openapi.json")).json()
    assert "webhooks:manage" in document["paths"]["/webhooks/deliveries"]["get"]["description"]
    assert {"202", "404", "409"} <= set(
        document["paths"]["/webhooks/deliveries/{delivery_id}/redeliver"]["post"]["responses"]
    )
    assert "/webhooks/endpoints/{name}/enable" in document["paths"]


async def test_redeliver_sends_again_with_the_same_webhook_id(setup: Setup) -> None:
    payment = await setup.initiate("r-1")
    async with dispatching(setup.db, setup.settings) as dispatcher:
        (first,) = await setup.receiver.wait_count("orders", 1)
        await dispatcher.until_settled(1)
        _, listed = await setup.get("/webhooks/deliveries", endpoint="orders")
        (delivery,) = listed["deliveries"]
        assert delivery["status"] == "delivered"
        response = await setup.api.post(
            f"/webhooks/deliveries/{delivery['id']}/redeliver", headers=setup.headers
        )
        assert response.status == 202
        assert (await response.json())["status"] == "pending"
        _, again = await setup.receiver.wait_count("orders", 2)
        await dispatcher.until_settled(2)
    assert again.webhook_id == first.webhook_id == str(delivery["event_id"])
    assert again.body == first.body
    assert again.payload["data"]["payment"]["id"] == payment["id"]
    _, after = await setup.get(f"/webhooks/deliveries/{delivery['id']}")
    assert (after["status"], after["attempts"]) == ("delivered", 2)
    assert [a["status_code"] for a in after["attempt_log"]] == [200, 200]


async def test_redeliver_refuses_what_cannot_be_sent_now(setup: Setup) -> None:
    setup.receiver.script("orders", [HANG])
    await setup.initiate("h-1")
    async with dispatching(setup.db, setup.settings):
        await setup.receiver.wait_count("orders", 1)
        _, listed = await setup.get("/webhooks/deliveries")
        (delivery,) = listed["deliveries"]
        assert delivery["in_flight"] is True
        busy = await setup.api.post(f"/webhooks/deliveries/{delivery['id']}/redeliver", headers=setup.headers)
        assert busy.status == 409
    missing = await setup.api.post("/webhooks/deliveries/424242/redeliver", headers=setup.headers)
    assert missing.status == 404

    ids = {row.name: row.id for row in await _endpoints(setup.db)}
    async with setup.db.write() as conn:
        await webhook_store.disable_endpoint(conn, ids["orders"], "the receiver answered 410 Gone", utcnow())
    disabled = await setup.api.post(f"/webhooks/deliveries/{delivery['id']}/redeliver", headers=setup.headers)
    assert disabled.status == 409
    assert "enable" in (await disabled.json())["detail"]

    _, endpoints = await setup.get("/webhooks/endpoints")
    shown = {e["name"]: e for e in endpoints["endpoints"]}
    assert shown["orders"]["status"] == "disabled"
    assert shown["orders"]["url"] == setup.receiver.url("orders")  # no credentials, no token
    assert shown["orders"]["disabled_reason"] == "the receiver answered 410 Gone"
    assert shown["audit"] == {
        "name": "audit",
        "url": setup.receiver.url("audit"),
        "status": "active",
        "disabled_at": None,
        "disabled_reason": None,
        "backlog": 0,
    }
    enabled = await setup.api.post("/webhooks/endpoints/orders/enable", headers=setup.headers)
    assert enabled.status == 200
    assert (await enabled.json())["status"] == "active"
    assert (await setup.api.post("/webhooks/endpoints/nobody/enable", headers=setup.headers)).status == 404
    assert (
        await setup.api.post(f"/webhooks/deliveries/{delivery['id']}/redeliver", headers=setup.headers)
    ).status == 202

    # Removed from the configuration: nothing can sign for it any more.
    async with setup.db.write() as conn:
        await webhook_store.sync_endpoints(conn, [("audit", setup.receiver.url("audit"))], utcnow())
    gone = await setup.api.post(f"/webhooks/deliveries/{delivery['id']}/redeliver", headers=setup.headers)
    assert gone.status == 409
    assert (await setup.api.post("/webhooks/endpoints/orders/enable", headers=setup.headers)).status == 409
    _, endpoints = await setup.get("/webhooks/endpoints")
    assert {e["name"]: e["status"] for e in endpoints["endpoints"]} == {
        "audit": "active",
        "orders": "removed",
    }


async def _endpoints(db: Database) -> list[webhook_store.EndpointRow]:
    async with db.read() as conn:
        return await webhook_store.list_endpoints(conn)
