"""Secrets stay secret through a full run: `paywatch init`, `paywatch watch` and `paywatch api` as real
processes on PostgreSQL and a devnet, a payment confirmed, a signed webhook delivered, an inbound
webhook, bad requests, `paywatch status`, both /metrics. Every configured secret is then looked
for in everything the run printed or answered: none may appear.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from stellar_sdk import IdMemo

from shared.signatures import sign_headers
from tests.ops_support import Daemon, paywatch_cli
from tests.support import Network, eventually


class Receiver:
    """The order service's webhook endpoint (credentials in its URL, as some operators configure)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        self.bodies.append(await request.json())
        self.arrived.set()
        return web.Response(status=204)


async def listen(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"{host}:{port}"


def logged(daemon: Daemon, event: str) -> dict[str, Any] | None:
    for line in daemon.output().splitlines():
        if line.startswith("{") and json.loads(line).get("event", "").startswith(event):
            return dict(json.loads(line))
    return None


async def test_no_configured_secret_appears_in_logs_outputs_or_answers(
    network: Network, postgres_url: str, tmp_path: Path
) -> None:
    # `paywatch init`: a new receiving account whose seed goes to a 0600 file and nowhere else.
    init_dir = tmp_path / "init"
    init_dir.mkdir()
    init_output = await paywatch_cli("init", "--config", str(init_dir / "paywatch.toml"))
    seed = (init_dir / "paywatch-account.secret").read_text().strip()
    merchant = re.search(r"receiving account (G[A-Z2-7]{55})", init_output)
    assert merchant is not None, init_output
    merchant_account = merchant.group(1)
    await network.client.friendbot(merchant_account)
    buyer = await network.funded()

    db_password = "dbpw-" + secrets.token_hex(8)
    url_password = "urlpw-" + secrets.token_hex(8)
    down_password = "downpw-" + secrets.token_hex(8)  # an endpoint that refuses connections: errors logged
    down_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    webhook_key = base64.b64encode(secrets.token_bytes(24)).decode()
    webhook_secret, previous_secret = (
        "whsec_" + webhook_key,
        "whsec_" + base64.b64encode(b"old-" * 6).decode(),
    )
    inbound_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    database_url = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{db_password}@")

    receiver = Receiver()
    hook_app = web.Application()
    hook_app.router.add_post("/hook", receiver.handle)
    hook_runner, hook_address = await listen(hook_app)

    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "paywatch_inbound_webhook__secret").write_text(inbound_secret)
    config = tmp_path / "paywatch.toml"
    config.write_text(
        f"""
[network]
name = "custom"
passphrase = "{network.net.passphrase}"
horizon_urls = ["{network.url}"]
[database]
url = "{database_url}"
[[accounts]]
address = "{merchant_account}"
default = true
[assets.XLM]
native = true
[watcher]
mode = "accounts"
poll_interval_seconds = 0.05
heartbeat_seconds = 0.5
backfill_margin_seconds = 0
metrics_port = 0
[api]
port = 0
[[webhooks]]
name = "orders"
url = "http://hooks:{url_password}@{hook_address}/hook"
secret = "{webhook_secret}"
previous_secrets = ["{previous_secret}"]
[[webhooks]]
name = "down"
url = "http://down:{down_password}@127.0.0.1:9/hook"
secret = "{down_secret}"
[webhook_delivery]
poll_interval_seconds = 0.05
retry_schedule_seconds = [0.1]
[logging]
level = "debug"
format = "json"
"""
    )
    outputs: list[str] = [init_output]
    migrate = await paywatch_cli("migrate", "--config", str(config))
    outputs.append(migrate)
    created = await paywatch_cli(
        "apikey", "--config", str(config), "create", "--name", "shop", "--scopes", "admin"
    )  # printed once by design: not part of what is checked
    api_key = created.split()[-1]
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    watcher = Daemon("watch", config, tmp_path / "watcher.log", env)
    api = Daemon("api", config, tmp_path / "api.log", env)
    answers: list[str] = []
    try:
        watcher.start()
        api.start()

        async def api_url() -> str | None:
            line = logged(api, "api listening")
            return str(line["url"]) if line else None

        async def watcher_metrics() -> str | None:
            line = logged(watcher, "watcher ready")
            return str(line["metrics"]) if line else None

        base = await eventually(api_url, within=30, what="the API to listen")
        metrics_url = await eventually(watcher_metrics, within=30, what="the watcher to be ready")
        headers = {"Authorization": f"Bearer {api_key}"}
        async with aiohttp.ClientSession() as http:

            async def call(method: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
                async with http.request(method, base + path, **kwargs) as response:
                    answers.append(f"{response.status} {dict(response.headers)} {await response.text()}")
                    await response.read()
                    return response

            async with http.post(
                base + "/payments/initiate",
                json={"order_id": "o-1", "amount": "3", "currency": "XLM"},
                headers=headers,
            ) as response:
                assert response.status == 201, await response.text()
                payment = await response.json()
            paid = await network.client.pay(
                buyer, merchant_account, "3", memo=IdMemo(int(payment["reference"]))
            )

            async def confirmed() -> bool:
                async with http.get(base + f"/payments/{payment['id']}", headers=headers) as response:
                    return (await response.json())["status"] == "confirmed"

            await eventually(confirmed, within=30, what="the payment to be confirmed")
            await asyncio.wait_for(receiver.arrived.wait(), 30)

            body = json.dumps({"transaction_hash": paid.hash}).encode()
            signed = sign_headers([inbound_secret], "inbound-1", int(time.time()), body)
            inbound = await call(
                "POST",
                "/payments/webhook/stellar",
                data=body,
                headers={**signed, "Content-Type": "application/json"},
            )
            assert inbound.status == 200
            # Mistakes a client makes with its key, and a wrong signature: refused, never echoed.
            await call("GET", "/payments/o-1", headers={"Authorization": f"Token {api_key}"})
            await call("GET", f"/payments?api_key={api_key}", headers={"X-Api-Key": api_key})
            await call("GET", "/payments", headers={"Authorization": f"Bearer {api_key[:-2]}xx"})
            await call(
                "POST", "/payments/webhook/stellar", data=body, headers={"webhook-signature": inbound_secret}
            )
            await call("POST", "/payments/initiate", data=f'{{"order_id": "{api_key}"', headers=headers)
            for path in (
                "/payments/monitor/status",
                "/webhooks/endpoints",
                "/webhooks/deliveries",
                "/metrics",
            ):
                await call("GET", path, headers=headers)
            async with http.get(metrics_url) as response:
                answers.append(await response.text())
        outputs.append(await paywatch_cli("status", "--config", str(config)))
        outputs.append(await paywatch_cli("status", "--json", "--config", str(config)))
    finally:
        api.terminate()
        watcher.terminate()
        await hook_runner.cleanup()

    logs = watcher.output() + api.output()
    assert "payment confirmed" in logs  # the run did what it should, and said so
    assert '"endpoint": "down"' in logs  # its failed attempts were logged
    assert receiver.headers[0]["webhook-signature"].count("v1,") == 2  # signed with both secrets
    everything = "\n".join([logs, *outputs, *answers])
    wanted = {
        "account seed": seed,
        "webhook secret": webhook_secret,
        "webhook key": webhook_key,
        "previous webhook secret": previous_secret,
        "inbound secret": inbound_secret,
        "inbound key": inbound_secret.removeprefix("whsec_"),
        "API key": api_key,
        "API key secret part": api_key.split("_", 2)[2],
        "database password": db_password,
        "webhook URL password": url_password,
        "failing endpoint's URL password": down_password,
        "failing endpoint's secret": down_secret,
        "buyer seed": buyer.secret,
    }
    leaked = [name for name, secret in wanted.items() if secret in everything]
    assert not leaked, f"secrets found in the run's output: {leaked}"
