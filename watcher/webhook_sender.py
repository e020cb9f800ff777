"""One signed webhook attempt: POST the stored body with Standard Webhooks headers, within a timeout.

Never raises for what the network or the receiver does: every outcome becomes an AttemptResult.
Redirects are not followed (a 3xx is a failed attempt). Only a short, printable excerpt of the
receiver's answer is kept, for the attempt log.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from paywatch import __version__
from shared.signatures import sign_headers

EXCERPT_BYTES = 200
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\")]+")


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status: int | None  # None: no HTTP answer
    error: str | None
    retry_after: str | None  # the raw Retry-After header, if any
    duration: float  # seconds


def _excerpt(raw: bytes) -> str:
    return _UNPRINTABLE.sub(" ", raw.decode("utf-8", "replace")).strip()


async def post_signed(
    session: aiohttp.ClientSession,
    url: str,
    *,
    message_id: str,
    secrets: Sequence[str],
    body: bytes,
    timestamp: int,
    timeout_seconds: float,
) -> AttemptResult:
    headers = {
        "content-type": "application/json",
        "user-agent": f"paywatch/{__version__}",
        **sign_headers(secrets, message_id, timestamp, body),
    }
    started = time.monotonic()
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        ) as response:
            answer = await response.content.read(EXCERPT_BYTES)
            status = response.status
            retry_after = response.headers.get("Retry-After")
    except TimeoutError:
        return AttemptResult(
            None, f"no answer within {timeout_seconds:g} s", None, time.monotonic() - started
        )
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        # Some errors quote the URL, which may carry credentials or a token: never store or log it.
        message = _URL.sub("<url>", str(exc)) or type(exc).__name__
        return AttemptResult(None, f"{type(exc).__name__}: {message}"[:300], None, time.monotonic() - started)
    duration = time.monotonic() - started
    if 200 <= status < 300:
        return AttemptResult(status, None, retry_after, duration)
    excerpt = _excerpt(answer)
    return AttemptResult(
        status, f"HTTP {status}" + (f": {excerpt}" if excerpt else ""), retry_after, duration
    )
