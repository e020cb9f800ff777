"""The HTTP API slice on both backends: create/read payments, auth, RFC 9457 errors, OpenAPI."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.auth import KEY_CACHE, KEY_CACHE_SECONDS
from api.models import PaymentOut
from shared.clock import utcnow
from shared.store import apikeys as key_store
from shared.store import payments as payment_store
from shared.store.engine import Database
from tests.conftest import make_settings, new_api_key

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
OTHER = "GDV4KECLSZLKRVH4ZTWVAS4I3W2LPAPV66ADFFUZKGIVOTK6GMKGJT53"


@pytest.fixture
async def client(db: Database, db_url: str, aiohttp_client: Any) -> TestClient[web.Request, web.Application]:
    app = create_app(make_settings(db_url, [ACCOUNT]), db)
    test_client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    return test_client


@pytest.fixture
async def key(db: Database) -> str:
    return await new_api_key(db, ("payments:read", "payments:write"))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def initiate(client: TestClient[Any, Any], key: str, **body: Any) -> Any:
    return await client.post("/payments/initiate", json=body, headers=auth(key))


async def payment_count(db: Database) -> int:
    async with db.read() as conn:
        return sum((await payment_store.count_by_status(conn)).values())


async def test_initiate_then_read(client: TestClient[Any, Any], key: str) -> None:
    response = await initiate(
        client, key, order_id="42", amount="25", currency="XLM", metadata={"cart": [1, 2]}
    )
    assert response.status == 201
    payment = await response.json()
    PaymentOut.model_validate(payment)
    assert payment["status"] == "pending"
    assert payment["amount"] == "25.0000000"
    assert payment["amount_received"] == "0.0000000"
    assert payment["asset"] == {"code": "XLM", "issuer": None}
    assert payment["destination"] == ACCOUNT
    assert payment["memo_type"] == "id"
    assert payment["memo"] == payment["reference"]
    assert payment["muxed_destination"].startswith("M")
    assert payment["pay_uri"].startswith(f"web+stellar:pay?destination={ACCOUNT}&amount=25&memo=")
    assert payment["metadata"] == {"cart": [1, 2]}
    assert response.headers["X-Request-ID"]

    again = await client.get(f"/payments/{payment['id']}", headers=auth(key))
    assert again.status == 200
    assert (await again.json())["id"] == payment["id"]
    by_order = await client.get("/payments/order/42", headers=auth(key))
    assert (await by_order.json())["id"] == payment["id"]


async def test_same_order_same_terms_returns_the_pending_payment(
    client: TestClient[Any, Any], key: str
) -> None:
    first = await initiate(client, key, order_id="7", amount="10.5", currency="XLM")
    second = await initiate(client, key, order_id="7", amount="10.5000000", currency="XLM")
    assert (first.status, second.status) == (201, 200)
    assert (await first.json())["id"] == (await second.json())["id"]
    different = await initiate(client, key, order_id="7", amount="11", currency="XLM")
    assert different.status == 409
    assert different.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1e5"}, "amount"),
        ({"amount": "0.00000001"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": 25}, "amount"),
        ({"amount": 25.5}, "amount"),
        ({"amount": "922337203685.4775808"}, "amount"),
        ({"currency": "DOGE"}, "currency"),
        ({"destination": "GABC"}, "destination"),
        ({"destination": OTHER}, "destination"),
        ({"colour": "blue"}, "colour"),
        ({"order_id": 42}, "order_id"),
        ({"order_id": "a\u0000b"}, "order_id"),
        ({"timeout_minutes": "30"}, "timeout_minutes"),
        ({"timeout_minutes": 0}, "timeout_minutes"),
    ],
)
async def test_bad_input_is_422_problem_and_creates_nothing(
    client: TestClient[Any, Any], key: str, db: Database, body: dict[str, Any], field: str
) -> None:
    payload = {"order_id": "42", "amount": "25", "currency": "XLM", **body}
    response = await client.post("/payments/initiate", json=payload, headers=auth(key))
    assert response.status == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = await response.json()
    assert problem["status"] == 422
    assert field in [error["field"] for error in problem["errors"]]
    assert "Traceback" not in json.dumps(problem)
    assert await payment_count(db) == 0


async def test_transport_level_errors(client: TestClient[Any, Any], key: str, db: Database) -> None:
    malformed = await client.post(
        "/payments/initiate", data=b'{"order_id": ', headers={**auth(key), "Content-Type": "application/json"}
    )
    assert malformed.status == 400
    wrong_type = await client.post(
        "/payments/initiate", data=b"order_id=42", headers={**auth(key), "Content-Type": "text/plain"}
    )
    assert wrong_type.status == 415
    huge = {"order_id": "42", "amount": "25", "currency": "XLM", "metadata": {"x": "y" * 70_000}}
    too_big = await client.post("/payments/initiate", json=huge, headers=auth(key))
    assert too_big.status == 413
    for response in (malformed, wrong_type, too_big):
        assert response.headers["Content-Type"].startswith("application/problem+json")
    assert await payment_count(db) == 0


async def test_missing_wrong_revoked_keys_and_scopes(client: TestClient[Any, Any], db: Database) -> None:
    body = {"order_id": "1", "amount": "1", "currency": "XLM"}
    missing = await client.post("/payments/initiate", json=body)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await client.post("/payments/initiate", json=body, headers=auth("pw_aaaaaaaaaaaa_" + "x" * 43))
    assert wrong.status == 401
    garbage = await client.post("/payments/initiate", json=body, headers=auth("hunter2"))
    assert garbage.status == 401
    read_only = await new_api_key(db, ("payments:read",))
    forbidden = await client.post("/payments/initiate", json=body, headers=auth(read_only))
    assert forbidden.status == 403
    admin = await new_api_key(db, ("admin",))
    assert (await client.post("/payments/initiate", json=body, headers=auth(admin))).status == 201
    async with db.write() as conn:  # as `paywatch apikey revoke` does, from another process
        await key_store.revoke_key(conn, admin.split("_")[1], utcnow())
    # The API reuses a key's row for KEY_CACHE_SECONDS: refused once that has passed.
    cache = client.app[KEY_CACHE]
    cache.clock = lambda: time.monotonic() + KEY_CACHE_SECONDS + 0.001
    assert (await client.get("/payments/order/1", headers=auth(admin))).status == 401
    assert await payment_count(db) == 1


async def test_unknown_payment_and_route_are_404_problems(client: TestClient[Any, Any], key: str) -> None:
    for path in ("/payments/pay_nope", "/payments/order/none", "/no/such/route"):
        response = await client.get(path, headers=auth(key))
        assert response.status == 404
        assert response.headers["Content-Type"].startswith("application/problem+json")


async def test_health_readiness_and_openapi_cover_every_route(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200, await ready.text()
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
    schema = document["paths"]["/payments/initiate"]["post"]["requestBody"]["content"]["application/json"]
    assert schema["schema"]["$ref"] == "#/components/schemas/InitiatePayment"
    assert document["components"]["schemas"]["InitiatePayment"]["properties"]["amount"]["type"] == "string"
