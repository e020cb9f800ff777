"""The operator console in a real browser (Debian's headless Chromium), on both backends: signing in
with keys of each kind, the watcher's health, assigning an unmatched receipt and redelivering a
failed webhook, all through the JSON API with the key typed in — never in a URL, cookie or storage
unless asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import BrowserContext, Page, expect

from api.app import create_app
from shared.config import Settings
from tests.browser import WAIT_MS, PageErrors, screenshot
from tests.conftest import Shop, new_api_key
from tests.support import eventually, initiate, payment, running_watcher, wait_receipt
from tests.webhook_support import Receiver, deliveries, endpoint, receiving, with_webhooks


@dataclass
class Desk:
    shop: Shop
    api: TestClient[Any, Any]
    settings: Settings
    receiver: Receiver
    admin: str


@pytest.fixture
async def desk(shop: Shop, aiohttp_client: Any) -> AsyncIterator[Desk]:
    async with receiving() as receiver:
        # The order service refuses the first delivery for good (400), then takes everything.
        receiver.script("orders", [400, 200])
        settings = with_webhooks(
            shop.settings, [endpoint("orders", receiver.url("orders"), events=["payment.initiated"])]
        )
        api = await aiohttp_client(create_app(settings, shop.db))
        async with running_watcher(settings, shop.db):
            yield Desk(shop, api, settings, receiver, await new_api_key(shop.db, ("admin",)))


async def sign_in(page: Page, key: str, *, remember: bool = False) -> None:
    await page.get_by_label("API key with the admin scope").fill(key)
    if remember:
        await page.get_by_label("Keep the key in this browser tab until it closes").check()
    await page.get_by_role("button", name="Sign in").click()


async def test_console_assigns_a_receipt_and_redelivers_a_webhook(
    desk: Desk, browser: BrowserContext
) -> None:
    shop = desk.shop
    order = await initiate(desk.api, shop.key, order_id="console-1", amount="7", currency="XLM")
    # The buyer forgot the memo: the money arrives, but no payment claims it.
    no_memo = await shop.client.pay(shop.buyer, shop.merchant.public_key, "7")
    receipt = await wait_receipt(shop.db, no_memo.hash)
    assert receipt.disposition == "unmatched"
    # The payment.initiated delivery was refused with 400: failed for good.
    await desk.receiver.wait_count("orders", 1)
    (failed,) = await eventually(lambda: _failed(desk), what="the first webhook delivery to fail")

    page = await browser.new_page()
    errors = PageErrors(page)
    await page.goto(str(desk.api.make_url("/console")))
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # Keys that cannot open the console.
    await sign_in(page, "pw_nosuchkey_0000000000000000000000000000")
    await expect(page.locator("#sign-in-error")).to_have_text("Unknown or revoked API key.")
    await sign_in(page, await new_api_key(shop.db, ("payments:read", "payments:write")))
    await expect(page.locator("#sign-in-error")).to_have_text(
        "This key lacks the admin scope the console needs."
    )
    await expect(page.locator("#dashboard")).to_be_hidden()

    await sign_in(page, desk.admin)
    await expect(page.locator("#dashboard")).to_be_visible()
    summary = page.locator("#health-summary")
    await expect(summary).to_contain_text("running (leader)")
    await expect(summary).to_contain_text("Streams connected1 of 1")
    await expect(page.locator("#streams-table tbody")).to_contain_text(
        f"account {shop.merchant.public_key[:5]}…"
    )
    row = page.locator(f'#payments-table tr[data-payment-id="{order["id"]}"]')
    await expect(row).to_contain_text("pending")
    await expect(row).to_contain_text("7.0000000 XLM")

    # Assign the unmatched receipt to the order's payment.
    receipt_row = page.locator(f'#receipts-table tr[data-receipt-id="{receipt.id}"]')
    await expect(receipt_row).to_contain_text("7.0000000 XLM")
    await expect(receipt_row).to_contain_text("no_memo")
    await receipt_row.get_by_label(f"Payment id for receipt {receipt.id}").fill(order["id"])
    await receipt_row.get_by_role("button", name=f"Assign receipt {receipt.id}").click()
    await expect(page.locator("#flash")).to_have_text(
        f"Receipt {receipt.id} assigned to {order['id']}: confirmed, 7.0000000 of 7.0000000 XLM received."
    )
    await expect(receipt_row).to_have_count(0)
    await expect(row).to_contain_text("confirmed")
    await expect(row).to_contain_text("manual")
    assigned = await payment(shop.db, order["id"])
    assert (assigned.status, assigned.flag_manual, assigned.amount_received) == (
        "confirmed",
        True,
        70_000_000,
    )

    # Redeliver the failed webhook: the same event (same webhook-id) arrives again and is taken.
    delivery_row = page.locator(f'#deliveries-table tr[data-delivery-id="{failed.id}"]')
    await expect(delivery_row).to_contain_text("failed")
    await expect(delivery_row).to_contain_text("HTTP 400")
    await delivery_row.get_by_role("button", name=f"Redeliver delivery {failed.id}").click()
    await expect(page.locator("#flash")).to_have_text(
        f"Delivery {failed.id} (event {failed.event_id}) will be sent again now."
    )
    first, second = await desk.receiver.wait_count("orders", 2, within=WAIT_MS / 1000)
    assert second.webhook_id == first.webhook_id == str(failed.event_id)
    await eventually(lambda: _delivered(desk, failed.id), what="the redelivery to be delivered")
    await page.locator("#deliveries").get_by_role("button", name="Refresh").click()
    await expect(delivery_row).to_contain_text("delivered")
    await expect(delivery_row).to_contain_text("HTTP 200")

    # The filters are the API's: no payment is pending any more.
    await page.locator("#payments-filter").get_by_label("Status").select_option("pending")
    await page.locator("#payments-filter").get_by_role("button", name="Filter").click()
    await expect(page.locator("#payments-table tbody")).to_contain_text("No payments.")

    if "sqlite" in shop.db_url:
        await page.locator("#payments-filter").get_by_label("Status").select_option("")
        await page.locator("#payments-filter").get_by_role("button", name="Filter").click()
        await expect(row).to_be_visible()
        await screenshot(page, "console.png")

    # The key was never put in the URL, a cookie or storage (the box was not ticked).
    assert desk.admin not in page.url
    assert await page.evaluate("document.cookie") == ""
    assert await page.evaluate("sessionStorage.length + localStorage.length") == 0
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#dashboard")).to_be_hidden()
    await expect(page.locator("#payments-table tbody tr")).to_have_count(0)
    assert errors.messages == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)",
        "Failed to load resource: the server responded with a status of 403 (Forbidden)",
    ]


async def test_a_kept_key_survives_a_reload_of_the_tab_only(desk: Desk, browser: BrowserContext) -> None:
    for number in range(30):  # more than one page of the console's list (25)
        await initiate(desk.api, desk.shop.key, order_id=f"many-{number}", amount="1", currency="XLM")
    page = await browser.new_page()
    await page.goto(str(desk.api.make_url("/console")))
    await sign_in(page, desk.admin, remember=True)
    await expect(page.locator("#dashboard")).to_be_visible()
    rows = page.locator("#payments-table tbody tr")
    await expect(rows).to_have_count(25)
    await page.get_by_role("button", name="Load more").click()
    await expect(rows).to_have_count(30)
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    await expect(rows.last).to_contain_text("many-0")  # newest first: the oldest comes last
    await page.reload()
    await expect(page.locator("#dashboard")).to_be_visible()  # signed in again from sessionStorage
    await expect(page.locator("#health-summary")).to_contain_text("running")
    other_tab = await browser.new_page()
    await other_tab.goto(str(desk.api.make_url("/console")))
    await expect(other_tab.locator("#sign-in")).to_be_visible()  # sessionStorage is per tab
    await page.get_by_role("button", name="Sign out").click()
    assert await page.evaluate("sessionStorage.length") == 0


async def test_console_enables_an_endpoint_disabled_by_410(
    shop: Shop, aiohttp_client: Any, browser: BrowserContext
) -> None:
    async with receiving() as receiver:
        # The order service answers 410 Gone once (a misrouted deploy, say), then takes everything.
        receiver.script("orders", [410, 200])
        settings = with_webhooks(
            shop.settings, [endpoint("orders", receiver.url("orders"), events=["payment.initiated"])]
        )
        api = await aiohttp_client(create_app(settings, shop.db))
        admin = await new_api_key(shop.db, ("admin",))
        async with running_watcher(settings, shop.db):
            await initiate(api, shop.key, order_id="gone-1", amount="3", currency="XLM")
            (gone,) = await receiver.wait_count("orders", 1)
            desk = Desk(shop, api, settings, receiver, admin)
            (failed,) = await eventually(lambda: _failed(desk), what="the delivery answered 410 to fail")

            page = await browser.new_page()
            errors = PageErrors(page)
            await page.goto(str(api.make_url("/console")))
            await sign_in(page, admin)
            row = page.locator('#endpoints-table tr[data-endpoint="orders"]')
            await expect(row).to_contain_text("disabled")
            await expect(row).to_contain_text("410")
            await row.get_by_role("button", name="Enable endpoint orders").click()
            await expect(page.locator("#flash")).to_contain_text("Endpoint orders is enabled")
            await expect(row).to_contain_text("active")
            await expect(row.get_by_role("button")).to_have_count(0)  # nothing to enable any more

            # What failed while it was disabled is redelivered by hand, and arrives.
            delivery_row = page.locator(f'#deliveries-table tr[data-delivery-id="{failed.id}"]')
            await delivery_row.get_by_role("button", name=f"Redeliver delivery {failed.id}").click()
            _, again = await receiver.wait_count("orders", 2, within=WAIT_MS / 1000)
            assert again.webhook_id == gone.webhook_id
            await eventually(lambda: _delivered(desk, failed.id), what="the redelivery to be delivered")
            # New events are queued for the endpoint again.
            await initiate(api, shop.key, order_id="gone-2", amount="4", currency="XLM")
            await receiver.wait_count("orders", 3, within=WAIT_MS / 1000)
            assert errors.messages == []


async def _failed(desk: Desk) -> list[Any] | None:
    rows = await deliveries(desk.shop.db, status="failed")
    return rows or None


async def _delivered(desk: Desk, delivery_id: int) -> bool:
    rows = await deliveries(desk.shop.db, status="delivered")
    return any(row.id == delivery_id for row in rows)
