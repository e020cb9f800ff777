"""The hosted checkout page and console over HTTP (no browser), on both backends: pay_url, what the
page shows and what it never shows, its live status, the QR route, 404 pages, headers, assets and
the OpenAPI document. The browser tests are in test_browser_checkout.py and test_browser_console.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from api.app import create_app, serve
from api.checkout import State, state_of, status_view
from api.models import CheckoutStatus, PaymentOut
from api.pages import ASSETS, CONTENT_SECURITY_POLICY
from shared.apply import context_from_settings
from shared.clock import utcnow
from shared.store import payments as payment_store
from shared.store.engine import Database
from shared.store.payments import PaymentRow
from tests.conftest import make_settings, new_api_key

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
SECRETS = {
    "order_id": "order-SECRET-4711",
    "buyer_id": "buyer-SECRET-0815",
    "metadata": {"note": "meta-SECRET-1"},
}


@pytest.fixture
async def client(db: Database, db_url: str, aiohttp_client: Any) -> TestClient[web.Request, web.Application]:
    settings = make_settings(db_url, [ACCOUNT], api={"public_url": "https://pay.example.com/shop/"})
    test_client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(settings, db))
    return test_client


@pytest.fixture
async def key(db: Database) -> str:
    return await new_api_key(db, ("payments:read", "payments:write"))


def svg_title(document: bytes) -> str | None:
    """The <title> of an SVG document (served by the API under test: trusted input)."""
    svg = ET.fromstring(document)  # noqa: S314
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    title = svg.find("{http://www.w3.org/2000/svg}title")
    return None if title is None else title.text


async def create(client: TestClient[Any, Any], key: str, **body: Any) -> dict[str, Any]:
    payload = {"amount": "25", "currency": "XLM", **SECRETS, **body}
    response = await client.post(
        "/payments/initiate", json=payload, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 201, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def test_pay_url_is_built_from_public_url(client: TestClient[Any, Any], key: str) -> None:
    payment = await create(client, key)
    PaymentOut.model_validate(payment)
    assert payment["pay_url"] == f"https://pay.example.com/shop/pay/{payment['id']}"
    shown = await (
        await client.get(f"/payments/{payment['id']}", headers={"Authorization": f"Bearer {key}"})
    ).json()
    assert shown["pay_url"] == payment["pay_url"]


def test_pay_url_defaults_to_host_and_port() -> None:
    settings = make_settings("sqlite:///unused.db", [ACCOUNT], api={"host": "::1", "port": 8123})
    assert context_from_settings(settings).view.pay_url("pay_x") == "http://[::1]:8123/pay/pay_x"
    settings = make_settings("sqlite:///unused.db", [ACCOUNT])
    assert context_from_settings(settings).view.pay_url("pay_x") == "http://127.0.0.1:8080/pay/pay_x"


@pytest.mark.parametrize(
    "url", ["ftp://pay.example.com", "pay.example.com", "https://x.example/?a=1", "https://"]
)
def test_a_bad_public_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="public_url"):
        make_settings("sqlite:///unused.db", [ACCOUNT], api={"public_url": url})


async def test_checkout_page_shows_what_the_buyer_needs_and_nothing_else(
    client: TestClient[Any, Any], key: str
) -> None:
    payment = await create(client, key)
    response = await client.get(f"/pay/{payment['id']}")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    for shown in (payment["destination"], payment["memo"], payment["muxed_destination"], "25.0000000"):
        assert shown in page
    assert "Memo (ID) — required" in page
    assert 'data-state="awaiting"' in page
    assert "Waiting for your payment" in page
    assert payment["pay_uri"].replace("&", "&amp;") in page  # the wallet link: the whole amount
    status = await client.get(f"/pay/{payment['id']}/status")
    assert status.headers["Cache-Control"] == "no-store"
    body = await status.text()
    for leaked in (*SECRETS.values(), SECRETS["metadata"]["note"], payment["order_id"]):  # type: ignore[index]
        if isinstance(leaked, str):
            assert leaked not in page
            assert leaked not in body
    view = CheckoutStatus.model_validate_json(body)
    assert (view.state, view.payable, view.amount_remaining) == ("awaiting", True, "25.0000000")
    assert view.pay_uri == payment["pay_uri"]


async def test_pages_are_served_with_a_strict_content_security_policy(
    client: TestClient[Any, Any], key: str
) -> None:
    payment = await create(client, key)
    for path in (f"/pay/{payment['id']}", "/console", "/pay/pay_unknown"):
        response = await client.get(path)
        headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert (headers["X-Frame-Options"], headers["Referrer-Policy"]) == ("DENY", "no-referrer")
        assert headers["Cache-Control"] == "no-store"
        page = await response.text()
        # No inline script or style, nothing from another origin.
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert "<style" not in page
        assert " style=" not in page
        assert not re.search(r'(src|href)="(https?:)?//', page), path


async def test_an_unknown_payment_is_a_404_page(client: TestClient[Any, Any]) -> None:
    for path in ("/pay/pay_doesnotexist", "/pay/%3Cscript%3E", "/pay/" + "a" * 300):
        response = await client.get(path)
        assert response.status == 404, path
        assert response.content_type == "text/html"
        page = await response.text()
        assert "Payment not found" in page
        assert "Traceback" not in page
        assert "<script>" not in page
    for path in ("/pay/pay_doesnotexist/status", "/pay/pay_doesnotexist/qr.svg"):
        response = await client.get(path)
        assert response.status == 404
        assert response.content_type == "application/problem+json"


async def test_qr_code_is_an_svg_until_the_payment_stops_accepting_funds(
    client: TestClient[Any, Any], key: str
) -> None:
    payment = await create(client, key)
    response = await client.get(f"/pay/{payment['id']}/qr.svg")
    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    assert svg_title(await response.read()) == "Stellar payment request for 25.0000000 XLM"
    cancelled = await client.post(
        f"/payments/{payment['id']}/cancel", headers={"Authorization": f"Bearer {key}"}
    )
    assert cancelled.status == 200
    gone = await client.get(f"/pay/{payment['id']}/qr.svg")
    assert gone.status == 410
    status = await (await client.get(f"/pay/{payment['id']}/status")).json()
    assert (status["state"], status["payable"], status["title"]) == ("cancelled", False, "Cancelled")
    page = await (await client.get(f"/pay/{payment['id']}")).text()
    assert re.search(r'<section id="pay"[^>]*\bhidden>', page)  # no payment details for a cancelled one
    assert 'data-state="cancelled"' in page


async def test_assets_are_versioned_and_revalidated(client: TestClient[Any, Any]) -> None:
    page = await (await client.get("/console")).text()
    for name, asset in ASSETS.items():
        if name == "checkout.js":
            continue  # the checkout page's
        url = f"assets/{name}?v={asset.version}"
        assert url in page, name
        response = await client.get("/" + url)
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.content_type == asset.content_type
        assert await response.read() == asset.body
        again = await client.get(f"/assets/{name}", headers={"If-None-Match": asset.etag})
        assert again.status == 304
        assert again.headers["Cache-Control"] == "no-cache"
    assert (await client.get("/assets/nope.js")).status == 404


async def test_openapi_documents_the_pages_as_html(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/openapi.json")).json()
    page = document["paths"]["/pay/{payment_id}"]["get"]
    assert set(page["responses"]["200"]["content"]) == {"text/html"}
    assert set(page["responses"]["404"]["content"]) == {"text/html"}
    assert "security" not in page
    status = document["paths"]["/pay/{payment_id}/status"]["get"]
    assert status["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CheckoutStatus"
    )
    qr = document["paths"]["/pay/{payment_id}/qr.svg"]["get"]
    assert set(qr["responses"]["200"]["content"]) == {"image/svg+xml"}
    assert document["paths"]["/console"]["get"]["tags"] == ["pages"]
    assert set(document["paths"]["/assets/console.js"]["get"]["responses"]["200"]["content"]) == {
        "text/javascript"
    }
    json.dumps(document)  # serialisable as it is


# --- the buyer's states, from every status and flag ---------------------------------------------


def row(**changes: Any) -> PaymentRow:
    now = utcnow()
    base = PaymentRow(
        pk=1,
        id="pay_x",
        order_id="o",
        buyer_id=None,
        status="pending",
        amount=250_000_000,
        currency="XLM",
        asset_code="XLM",
        asset_issuer=None,
        destination=ACCOUNT,
        reference=7,
        memo_type="id",
        amount_received=0,
        amount_late=0,
        amount_refunded=0,
        flag_late=False,
        flag_overpaid=False,
        flag_manual=False,
        failure_reason=None,
        stellar_transaction_id=None,
        source_account=None,
        metadata=None,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(minutes=30),
        confirmed_at=None,
        failed_at=None,
        refunded_at=None,
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "state", "remaining", "says"),
    [
        ({}, "awaiting", "25.0000000", "Send 25.0000000 XLM"),
        ({"amount_received": 100_000_000}, "underpaid", "15.0000000", "15.0000000 XLM is still missing"),
        (
            {"status": "confirmed", "amount_received": 250_000_000},
            "paid",
            "0.0000000",
            "25.0000000 XLM received",
        ),
        (
            {"status": "confirmed", "amount_received": 260_000_000, "flag_overpaid": True},
            "paid",
            "0.0000000",
            "You sent 1.0000000 XLM more",
        ),
        (  # paid on time, more arrived late: still paid on time
            {
                "status": "confirmed",
                "amount_received": 300_000_000,
                "amount_late": 50_000_000,
                "flag_late": True,
            },
            "paid",
            "0.0000000",
            "You sent 5.0000000 XLM more",
        ),
        (  # accept_late: the late funds completed it
            {
                "status": "confirmed",
                "amount_received": 250_000_000,
                "amount_late": 250_000_000,
                "flag_late": True,
            },
            "paid_late",
            "0.0000000",
            "accepted",
        ),
        (  # late funds, not accepted: the merchant decides
            {
                "status": "timeout",
                "amount_received": 250_000_000,
                "amount_late": 250_000_000,
                "flag_late": True,
            },
            "paid_late",
            "0.0000000",
            "complete your order or refund you",
        ),
        ({"status": "timeout"}, "expired", "25.0000000", "before any payment arrived"),
        (
            {"status": "failed", "failure_reason": "underpaid", "amount_received": 10_000_000},
            "expired",
            "24.0000000",
            "with 1.0000000 XLM of 25.0000000 XLM received",
        ),
        ({"status": "failed", "failure_reason": "cancelled"}, "cancelled", "25.0000000", "cancelled"),
        ({"status": "refunded", "amount_received": 250_000_000}, "refunded", "0.0000000", "refunded"),
    ],
)
def test_every_status_has_a_buyer_state_and_wording(
    changes: dict[str, Any], state: State, remaining: str, says: str
) -> None:
    settings = make_settings("sqlite:///unused.db", [ACCOUNT])
    ctx = context_from_settings(settings)
    payment = row(**changes)
    assert state_of(payment, ctx) == state
    view = CheckoutStatus.model_validate(status_view(payment, ctx))
    assert view.amount_remaining == remaining
    assert says in view.message
    assert view.payable == (state in ("awaiting", "underpaid"))


def test_tolerance_counts_for_paid_on_time() -> None:
    settings = make_settings(
        "sqlite:///unused.db", [ACCOUNT], payments={"underpayment_tolerance_percent": Decimal(10)}
    )
    ctx = context_from_settings(settings)
    # 23 on time (within 10 %), 2 late: paid on time.
    payment = row(status="confirmed", amount_received=250_000_000, amount_late=20_000_000, flag_late=True)
    assert state_of(payment, ctx) == "paid"


async def test_status_follows_the_store(client: TestClient[Any, Any], key: str, db: Database) -> None:
    """A change made by the watcher (here: written to the store directly) shows in the next poll."""
    payment = await create(client, key, amount="10")
    async with db.write() as conn:
        await payment_store.update_payment(conn, payment["id"], {"amount_received": 40_000_000})
    status = await (await client.get(f"/pay/{payment['id']}/status")).json()
    assert (status["state"], status["amount_received"], status["amount_remaining"]) == (
        "underpaid",
        "4.0000000",
        "6.0000000",
    )
    assert "amount=6&" in status["pay_uri"]
    qr = await (await client.get(f"/pay/{payment['id']}/qr.svg")).read()
    assert svg_title(qr) == "Stellar payment request for 6.0000000 XLM"


async def test_api_warns_when_pay_urls_cannot_reach_it(db: Database, db_url: str) -> None:
    """On port 0 (or all interfaces) without public_url, pay_url is a guess: the API says so at start."""
    settings = make_settings(db_url, [ACCOUNT], api={"host": "127.0.0.1", "port": 0})
    stop = asyncio.Event()
    listening = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(serve(settings, db, stop, on_listening=lambda _: listening.set()))
        await asyncio.wait_for(listening.wait(), 10)
        stop.set()
        await task
    (warning,) = [entry for entry in logs if "public_url is not set" in entry["event"]]
    assert (warning["log_level"], warning["pay_url_base"]) == ("warning", "http://127.0.0.1:0")
