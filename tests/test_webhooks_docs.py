"""The receiver guide's verification examples (docs/webhooks.md) accept real deliveries, and only those."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.store.engine import Database
from tests.conftest import make_settings
from tests.webhook_support import (
    SECRET,
    Received,
    dispatching,
    emit_events,
    endpoint,
    receiving,
    with_webhooks,
)

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "webhooks.md"
ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody else's secret, 32 bytes").decode()


def example(language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    (code,) = [block for block in blocks if marker in block]
    return code


@pytest.fixture
async def delivery(sqlite_url: str) -> AsyncIterator[Received]:
    db = Database.open(sqlite_url)
    try:
        async with receiving() as receiver:
            settings = with_webhooks(
                make_settings(sqlite_url, [ACCOUNT]), [endpoint("docs", receiver.url("docs"))]
            )
            async with dispatching(db, settings):
                await emit_events(db, settings, 1)
                (received,) = await receiver.wait_count("docs", 1)
            yield received
    finally:
        await db.close()


def test_python_example_verifies_a_delivery(delivery: Received) -> None:
    namespace: dict[str, Any] = {}
    exec(example("python", "def verify("), namespace)  # noqa: S102 - our own documentation's code
    verify = namespace["verify"]
    assert verify(SECRET, delivery.headers, delivery.body) == delivery.webhook_id
    with pytest.raises(ValueError, match="no valid signature"):
        verify(OTHER_SECRET, delivery.headers, delivery.body)
    with pytest.raises(ValueError, match="no valid signature"):
        verify(SECRET, delivery.headers, delivery.body.replace(b'"id"', b'"Id"'))
    with pytest.raises(ValueError, match="stale"):
        verify(SECRET, {**delivery.headers, "webhook-timestamp": "1000000000"}, delivery.body)


def test_node_example_verifies_a_delivery(delivery: Received, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        message = "node is not installed (the Node.js example is checked where it is)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI requires it (.ci/run installs nodejs)")
        pytest.skip(message)
    script = tmp_path / "verify.js"
    script.write_text(
        example("js", "function verify(")
        + """
const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
try {
  console.log(verify(input.secret, input.headers, Buffer.from(input.body, "base64")));
} catch (error) {
  console.log("refused: " + error.message);
}
"""
    )

    def run(secret: str, body: bytes) -> str:
        payload = {"secret": secret, "headers": delivery.headers, "body": base64.b64encode(body).decode()}
        result = subprocess.run(
            [node, str(script)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.strip()

    assert run(SECRET, delivery.body) == delivery.webhook_id
    assert run(OTHER_SECRET, delivery.body) == "refused: no valid signature"
    assert run(SECRET, delivery.body + b" ") == "refused: no valid signature"
