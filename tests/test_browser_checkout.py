"""The checkout page in a real browser (Debian's headless Chromium), on both backends.

The buyer's part is played as a person would: the amount and memo are read off the page (or the QR
code off a screenshot of it), a real signed transaction is sent to the devnet with them, and the page,
never reloaded, turns to the state the watcher reached.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import BrowserContext, Page, expect
from stellar_sdk import IdMemo

from api.app import create_app
from shared.clock import utcnow
from shared.store.engine import Database
from tests.browser import WAIT_MS, PageErrors, decode_qr, screenshot
from tests.conftest import Shop, make_settings, new_api_key
from tests.support import initiate, running_watcher, wait_status

PRIVATE = {
    "order_id": "order-PRIVATE-77",
    "buyer_id": "buyer-PRIVATE-88",
    "metadata": {"n": "meta-PRIVATE-99"},
}


async def open_checkout(
    browser: BrowserContext, api: TestClient[Any, Any], payment_id: str
) -> tuple[Page, PageErrors]:
    page = await browser.new_page()
    await page.set_viewport_size({"width": 480, "height": 900})  # about a large phone's
    errors = PageErrors(page)
    response = await page.goto(str(api.make_url(f"/pay/{payment_id}")))
    assert response is not None
    assert response.status == 200
    await page.evaluate("window.sameDocument = true")  # gone if the page were ever reloaded
    return page, errors


async def still_the_same_document(page: Page) -> None:
    assert await page.evaluate("window.sameDocument === true")


def sep7_amount(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["amount"][0]


async def test_buyer_pays_what_the_page_shows_and_it_turns_to_paid(
    watching: Shop, browser: BrowserContext
) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, amount="12.5", currency="XLM", **PRIVATE)
    page, errors = await open_checkout(browser, shop.api, created["id"])
    await expect(page.locator("#state-title")).to_have_text("Waiting for your payment")
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"^(29:[0-5]\d|30:00)$"))
    await expect(page.get_by_role("button", name="Copy memo")).to_be_visible()
    # What a buyer reads off the page.
    amount = (await page.locator("#amount-to-send").inner_text()).strip()
    destination = (await page.locator("#destination").inner_text()).strip()
    memo = (await page.locator("#memo").inner_text()).strip()
    assert (amount, destination) == ("12.5000000", shop.merchant.public_key)
    await expect(page.locator("#memo-label")).to_have_text("Memo (ID) — required")
    assert await decode_qr(page.locator("#qr")) == created["pay_uri"]
    html = await page.content()
    for private in ("order-PRIVATE-77", "buyer-PRIVATE-88", "meta-PRIVATE-99"):
        assert private not in html
    if "sqlite" in shop.db_url:
        await screenshot(page, "checkout-pending.png")

    paid = await shop.client.pay(shop.buyer, destination, amount, memo=IdMemo(int(memo)))
    assert paid.successful

    await expect(page.locator("#state-title")).to_have_text("Paid", timeout=WAIT_MS)
    await expect(page.locator("#state-message")).to_contain_text("12.5000000 XLM received")
    await expect(page.locator("#pay")).to_be_hidden()
    await expect(page).to_have_title("Paid")
    await still_the_same_document(page)
    if "sqlite" in shop.db_url:
        await screenshot(page, "checkout-paid.png")
    assert errors.messages == []


async def test_underpaid_page_asks_for_the_rest_with_a_new_qr_code(
    watching: Shop, browser: BrowserContext
) -> None:
    shop = watching
    created = await initiate(shop.api, shop.key, order_id="u-1", amount="10", currency="USDC")
    page, errors = await open_checkout(browser, shop.api, created["id"])
    await expect(page.locator("#issuer")).to_contain_text(shop.issuer.public_key)
    memo = (await page.locator("#memo").inner_text()).strip()
    first = await shop.client.pay(shop.buyer, created["destination"], "4", shop.usdc, IdMemo(int(memo)))
    assert first.successful

    await expect(page.locator("#state-title")).to_have_text("Underpaid — send the rest", timeout=WAIT_MS)
    await expect(page.locator("#state-message")).to_contain_text("6.0000000 USDC is still missing")
    await expect(page.locator("#amount-to-send")).to_have_text("6.0000000")
    await expect(page.locator("#qr")).to_have_attribute("src", re.compile(r"amount=6\.0000000$"))
    rest_uri = await decode_qr(page.locator("#qr"))
    assert sep7_amount(rest_uri) == "6"
    assert await page.locator("#wallet-link").get_attribute("href") == rest_uri

    rest = (await page.locator("#amount-to-send").inner_text()).strip()
    second = await shop.client.pay(shop.buyer, created["destination"], rest, shop.usdc, IdMemo(int(memo)))
    assert second.successful
    await expect(page.locator("#state-title")).to_have_text("Paid", timeout=WAIT_MS)
    await expect(page.locator("#state-message")).to_contain_text("10.0000000 USDC received")
    await still_the_same_document(page)
    assert errors.messages == []


async def test_expired_page_then_paid_late(shop: Shop, browser: BrowserContext, aiohttp_client: Any) -> None:
    """A window that closed a moment after the page opened: 'checking', then 'Expired' once the watcher
    proved it by network time; funds sent afterwards (accepted late by the config) turn it 'Paid late'."""
    payments = shop.settings.payments.model_copy(update={"accept_late": True})
    settings = shop.settings.model_copy(update={"payments": payments})
    shift = timedelta(seconds=-58)  # 1-minute window: it ends about 2 s from now
    now: Callable[[], datetime] = lambda: utcnow() + shift  # noqa: E731
    api = await aiohttp_client(create_app(settings, shop.db, now=now))
    created = await initiate(api, shop.key, order_id="late-1", amount="3", currency="XLM", timeout_minutes=1)
    # The page is served by an API on the real clock, like the network's (the countdown follows it).
    page, errors = await open_checkout(browser, shop.api, created["id"])
    await expect(page.locator("#countdown-line")).to_have_text(
        "Time is up — checking whether your payment arrived in time…", timeout=WAIT_MS
    )
    async with running_watcher(settings, shop.db):
        await expect(page.locator("#state-title")).to_have_text("Expired", timeout=WAIT_MS)
        await expect(page.locator("#pay")).to_be_hidden()
        await expect(page.locator("#state-message")).to_contain_text("before any payment arrived")
        if "sqlite" in shop.db_url:
            await screenshot(page, "checkout-expired.png")
        memo = (await page.locator("#memo").text_content() or "").strip()  # hidden now, still known
        late = await shop.client.pay(shop.buyer, created["destination"], "3", memo=IdMemo(int(memo)))
        assert late.successful
        await wait_status(shop.db, created["id"], "confirmed")
        # An expired page looks again every 10 s, and at once when the buyer comes back to its tab.
        await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        await expect(page.locator("#state-title")).to_have_text("Paid late", timeout=WAIT_MS)
        await expect(page.locator("#state-message")).to_contain_text("after the deadline, and accepted")
    await still_the_same_document(page)
    assert errors.messages == []


# --- a phone, a keyboard, contrast: no devnet needed ------------------------------------------------

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"

# WCAG relative luminance and contrast of each visible text element against the background it is
# drawn on (the first opaque background of it or an ancestor).
CONTRAST = """
(selectors) => {
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      if (!el.checkVisibility()) continue;
      const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
      out.push([selector, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
    }
  }
  return out;
}
"""
TEXT = [
    ".eyebrow",
    ".total-label",
    "#total",
    "#state-title",
    "#state-message",
    ".countdown",
    ".qr figcaption",
    "#wallet-link",
    ".field dt",
    ".field .value",
    "button.copy",
    ".hint",
    ".muxed summary",
    ".footer",
]


@pytest.fixture
async def plain_api(db: Database, db_url: str, aiohttp_client: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(make_settings(db_url, [ACCOUNT]), db))
    return client


async def test_phone_keyboard_and_contrast(
    plain_api: TestClient[Any, Any], db: Database, browser: BrowserContext
) -> None:
    key = await new_api_key(db, ("payments:write",))
    created = await initiate(plain_api, key, order_id="phone-1", amount="25", currency="XLM")
    await browser.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=str(plain_api.make_url("/")).rstrip("/")
    )
    page, errors = await open_checkout(browser, plain_api, created["id"])
    await page.set_viewport_size({"width": 360, "height": 740})
    # Nothing wider than the phone's screen: a 56-character address wraps.
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = await page.locator("#qr").bounding_box()
    assert box is not None
    assert 200 <= box["width"] <= 360

    # Keyboard only: Tab to "Copy destination", press Enter, and the address is on the clipboard.
    target = page.get_by_role("button", name="Copy destination")
    for _ in range(12):
        await page.keyboard.press("Tab")
        if await target.evaluate("(el) => el === document.activeElement"):
            break
    else:
        pytest.fail("Copy destination is not reachable with the Tab key")
    await page.keyboard.press("Enter")
    await expect(target).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == created["destination"]
    await expect(page.locator("#copied")).to_have_text("Copied")

    # The muxed address alternative opens from the keyboard too.
    summary = page.locator(".muxed summary")
    await summary.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#muxed")).to_have_text(created["muxed_destination"])

    # Every control is named; the QR code has a text alternative.
    for name in ("Copy amount", "Copy destination", "Copy memo", "Copy muxed address"):
        await expect(page.get_by_role("button", name=name)).to_have_count(1)
    assert "QR code" in (await page.locator("#qr").get_attribute("alt") or "")
    ratios = await page.evaluate(CONTRAST, TEXT)
    assert {selector for selector, _ in ratios} >= {"#state-title", ".field .value", "button.copy", ".hint"}
    low = [(selector, round(ratio, 2)) for selector, ratio in ratios if ratio < 4.5]
    assert low == [], f"text below WCAG AA contrast 4.5:1: {low}"
    assert errors.messages == []


async def test_unknown_payment_shows_a_not_found_page(
    plain_api: TestClient[Any, Any], browser: BrowserContext
) -> None:
    page = await browser.new_page()
    errors = PageErrors(page)
    response = await page.goto(str(plain_api.make_url("/pay/pay_nosuchpaymentatall")))
    assert response is not None
    assert response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Payment not found")
    assert [m for m in errors.messages if "404" not in m] == []  # the page's own status is logged
