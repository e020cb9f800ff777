"""HTML pages served by the API: templates, static assets (in the package, no build step), headers.

Every page is one HTML document plus files from `api/web/`: no inline script or style and nothing
from another origin, which the Content-Security-Policy enforces. Links between the pages and their
assets are relative, so the pages also work behind a reverse proxy that serves the API under a path.
"""

from __future__ import annotations

import hashlib
import html
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

WEB = Path(__file__).resolve().parent / "web"

# No inline script or style, nothing from elsewhere; forms cannot submit anywhere (the console's
# sign-in form is handled by its script: without it, the key can never end up in a URL).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    name: str
    body: bytes
    content_type: str
    version: str  # the first 12 hex digits of the content's SHA-256: the `?v=` of its URL

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


CONTENT_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
ASSET_NAMES = ("paywatch.css", "checkout.js", "console.js", "favicon.svg")


def _load(name: str) -> StaticFile:
    body = (WEB / name).read_bytes()
    return StaticFile(name, body, CONTENT_TYPES[Path(name).suffix], hashlib.sha256(body).hexdigest()[:12])


ASSETS: dict[str, StaticFile] = {name: _load(name) for name in ASSET_NAMES}


def asset_url(name: str, base: str) -> str:
    """The URL of an asset relative to a page (`base` leads from the page to the API's root)."""
    return f"{base}assets/{name}?v={ASSETS[name].version}"


def serve_asset(request: web.Request, asset: StaticFile) -> web.Response:
    """An asset: cached for a year under its versioned URL, revalidated (ETag) under any other."""
    versioned = request.query.get("v") == asset.version
    headers = {
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=31536000, immutable" if versioned else "no-cache",
    }
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type=asset.content_type, headers=headers)


def _template(name: str) -> string.Template:
    return string.Template((WEB / name).read_text(encoding="utf-8"))


TEMPLATES: dict[str, string.Template] = {
    name: _template(name) for name in ("head.html", "checkout.html", "console.html", "not_found.html")
}


def render(name: str, base: str, values: Mapping[str, str]) -> str:
    """Fill a template: every value is escaped for HTML text and attributes. Added: `$head` (the
    pages' common <head> start) and the asset URLs `$css`, `$checkout_js`, `$console_js`, `$favicon`."""
    assets = {
        "css": asset_url("paywatch.css", base),
        "checkout_js": asset_url("checkout.js", base),
        "console_js": asset_url("console.js", base),
        "favicon": asset_url("favicon.svg", base),
    }
    fields = {key: html.escape(value, quote=True) for key, value in values.items()}
    head = TEMPLATES["head.html"].substitute(assets)
    return TEMPLATES[name].substitute(fields, head=head, **assets)


def html_page(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
    )
