"""Browser tests' support: Debian's headless Chromium driven by Playwright, on pages served on loopback.

`.ci/run` installs the `chromium` package when /usr/bin/chromium is missing; the Playwright wheel
brings its own driver, and `playwright install` (which downloads browsers) is never run. Without
Chromium the browser tests skip with the reason, except in CI, where they fail.

Set PAYWATCH_SCREENSHOTS to a directory (`make screenshots` does, with docs/) and the tests that show
a page in a documented state save a PNG of it there.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import zxingcpp
from PIL import Image
from playwright.async_api import BrowserContext, Locator, Page, async_playwright

from tests.support import missing

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000  # for a state the watcher must reach first (devnet ledgers close every 50 ms)


def chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    missing(f"Chromium not found at {CHROMIUM} (Debian package chromium)", "CI installs it")


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[BrowserContext]:
    """A fresh Chromium with its own user data directory; closed (and its process ended) on exit."""
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(executable),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
            locale="en-GB",
            timezone_id="UTC",
        )
        try:
            yield context
        finally:
            await context.close()


class PageErrors:
    """Console errors (a CSP violation is one) and uncaught exceptions of a page."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", lambda message: self._console(message.type, message.text))
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))

    def _console(self, kind: str, text: str) -> None:
        if kind == "error":
            self.messages.append(text)


async def decode_qr(image: Locator) -> str:
    """What the QR code shown by `image` says, read from a screenshot of it as a person's camera would."""
    await image.page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=await image.element_handle()
    )
    png = await image.screenshot()
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, f"expected one QR code, read {len(results)}"
    return str(results[0].text)


async def screenshot(page: Page, name: str) -> None:
    """Save a documented state's PNG when PAYWATCH_SCREENSHOTS names a directory."""
    directory = os.environ.get("PAYWATCH_SCREENSHOTS")
    if not directory:
        return
    viewport = page.viewport_size
    assert viewport is not None
    # As tall as the page's content, no taller: a short viewport, then the full page.
    await page.set_viewport_size({"width": viewport["width"], "height": 200})
    try:
        await page.screenshot(path=str(Path(directory) / name), full_page=True, animations="disabled")
    finally:
        await page.set_viewport_size(viewport)
