"""Hardening: authentication, strkeys wherever they enter, abuse (races, dust floods), SEP-29."""

from __future__ import annotations

import asyncio
import gc
import hmac
import io
import json
import time
import tracemalloc
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event
from stellar_sdk import IdMemo, TextMemo

from api.app import create_app
from shared import apikeys
from shared.apply import context_from_settings
from shared.config import ConfigError, load_settings
from shared.signatures import sign_headers
from shared.stellar.horizon import HorizonClient
from shared.stellar.records import RecordError, parse_credits
from shared.stellar.sse import SSEEvent
from shared.store import apikeys as key_store
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from tests.conftest import Shop, make_settings, new_api_key
from tests.support import Network, initiate, running_watcher, wait_receipt, wait_status
from tests.test_fuzz_horizon import payment_record
from watcher.daemon import Watcher
from watcher.ingest import Ingestor
from watcher.streams import StreamReader, StreamRecord

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
BAD_CHECKSUM = ACCOUNT[:-1] + ("A" if ACCOUNT[-1] != "A" else "B")
INBOUND_SECRET = "whsec_aW5ib3VuZC1zZWNyZXQtZm9yLXRlc3Rz"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def client(db: Database, db_url: str, aiohttp_client: Any) -> TestClient[Any, Any]:
    settings = make_settings(db_url, [ACCOUNT], inbound_webhook={"secret": INBOUND_SECRET})
    test_client: TestClient[Any, Any] = await aiohttp_client(create_app(settings, db))
    return test_client


# --- authentication ------------------------------------------------------------------------------


async def test_api_keys_are_stored_as_digests_and_compared_in_constant_time(
    client: TestClient[Any, Any], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await new_api_key(db, ("payments:read",))
    async with db.read() as conn:
        row = await key_store.get_key(conn, apikeys.split_key(key) or "")
    assert row is not None
    assert row.key_hash == apikeys.hash_key(key)
    assert key.split("_", 2)[2] not in repr(row)  # the secret part is nowhere in the stored row

    compared: list[tuple[bytes | str, bytes | str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(apikeys.hmac, "compare_digest", spy)
    good = await client.get("/payments/order/x", headers=auth(key))
    wrong_secret = await client.get("/payments/order/x", headers=auth(key[:-4] + "AAAA"))
    unknown_id = await client.get("/payments/order/x", headers=auth("pw_zzzzzzzzzzzz_" + "A" * 43))
    assert (good.status, wrong_secret.status, unknown_id.status) == (404, 401, 401)
    # Each presented key was compared by digest in constant time, an unknown id against a dummy digest.
    assert len(compared) == 3
    assert all(len(a) == len(b) == 64 for a, b in compared)


async def test_inbound_webhooks_need_a_fresh_signature_and_are_never_replayed(
    client: TestClient[Any, Any],
) -> None:
    body = json.dumps({"transaction_hash": "ab" * 32}).encode()

    async def post(headers: dict[str, str], data: bytes = body) -> int:
        response = await client.post(
            "/payments/webhook/stellar", data=data, headers={**headers, "Content-Type": "application/json"}
        )
        problem = await response.json()
        assert (
            response.headers["Content-Type"].startswith("application/problem+json") or response.status == 200
        )
        assert "ab" * 32 not in json.dumps(problem) or response.status != 401
        return response.status

    now = int(time.time())
    # Horizon (the test's 127.0.0.1:9) is unreachable: a verified message gets as far as the fetch (502).
    assert await post(sign_headers([INBOUND_SECRET], "m-ok", now, body)) == 502
    assert await post(sign_headers([INBOUND_SECRET], "m-old", now - 301, body)) == 401
    assert await post(sign_headers([INBOUND_SECRET], "m-future", now + 301, body)) == 401
    assert await post(sign_headers([INBOUND_SECRET], "m-edge", now - 290, body)) == 502
    assert await post(sign_headers(["whsec_b3RoZXI="], "m-other", now, body)) == 401
    assert await post(sign_headers([INBOUND_SECRET], "m" * 256, now, body)) == 401  # ids are kept: bounded
    resigned = sign_headers([INBOUND_SECRET], "m-ok", now, body)
    resigned["webhook-id"] = "m-ok2"  # the id is signed too: changing it breaks the signature
    assert await post(resigned) == 401


async def test_a_replayed_inbound_message_id_is_refused(shop: Shop) -> None:
    """With a Horizon to read from: the first delivery is applied, the same webhook-id again is 409."""
    settings = make_settings(
        shop.db_url,
        [shop.merchant.public_key],
        horizon_url=shop.network.url,
        passphrase=shop.network.net.passphrase,
        inbound_webhook={"secret": INBOUND_SECRET},
    )
    paid = await shop.client.pay(shop.buyer, shop.merchant.public_key, "1")
    app = create_app(settings, shop.db)
    from aiohttp.test_utils import TestServer

    async with TestClient(TestServer(app)) as client:
        body = json.dumps({"transaction_hash": paid.hash}).encode()
        headers = {
            **sign_headers([INBOUND_SECRET], "m-1", int(time.time()), body),
            "Content-Type": "application/json",
        }
        first = await client.post("/payments/webhook/stellar", data=body, headers=headers)
        assert first.status == 200, await first.text()
        again = await client.post("/payments/webhook/stellar", data=body, headers=headers)
        assert again.status == 409
        assert again.headers["Content-Type"].startswith("application/problem+json")


HOSTILE = [
    "'",
    '"',
    'it\'s "quoted"',
    "1'; DROP TABLE payments; --",
    "' OR '1'='1",
    "a\x00b",
    "\x00",
    "line\nbreak",
    "back\\slash",
    "%00%27",
    "emoji 💸 and RTL \u202e",
    "x" * 200,
    "x" * 201,
    "y" * 60_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_strings_are_stored_exactly_or_refused_cleanly(
    client: TestClient[Any, Any], db: Database, value: str
) -> None:
    key = await new_api_key(db, ("payments:read", "payments:write"))
    body = {
        "order_id": value,
        "amount": "1",
        "currency": "XLM",
        "buyer_id": value,
        "metadata": {value: [value]},
    }
    created = await client.post("/payments/initiate", json=body, headers=auth(key))
    assert created.status in (201, 413, 422), await created.text()
    if created.status == 201:
        payment = await created.json()
        assert (payment["order_id"], payment["buyer_id"], payment["metadata"]) == (
            value,
            value,
            {value: [value]},
        )
        again = await client.get(f"/payments/{payment['id']}", headers=auth(key))
        assert (await again.json())["order_id"] == value
    else:
        assert created.headers["Content-Type"].startswith("application/problem+json")
        async with db.read() as conn:
            assert sum((await payment_store.count_by_status(conn)).values()) == 0
    # The same value as a filter and in paths: an answer, never a server error.
    beyond = await client.get("/payments", params={"cursor": str(2**63)}, headers=auth(key))
    assert beyond.status == 422  # a cursor past int64 would overflow the store's query
    listed = await client.get(
        "/payments", params={"order_id": value[:200], "buyer_id": value[:200]}, headers=auth(key)
    )
    assert listed.status in (200, 422)
    short = value[:4000]  # a request line over 8 KiB is the HTTP server's plain 400 (docs/decisions.md)
    for path in (f"/payments/order/{short}", f"/payments/buyer/{short}/stats", f"/payments/{short}"):
        response = await client.get(path.replace("%", "%25").replace("\n", "%0A"), headers=auth(key))
        assert response.status in (200, 404, 422), (path[:60], response.status)
        assert response.headers["Content-Type"].startswith(("application/json", "application/problem+json"))


# --- strkeys with bad checksums, wherever they enter ---------------------------------------------


async def test_bad_checksum_destinations_are_refused_by_the_api(
    client: TestClient[Any, Any], db: Database
) -> None:
    key = await new_api_key(db, ("payments:write",))
    for destination in (BAD_CHECKSUM, ACCOUNT.lower(), ACCOUNT[:-1], "M" + ACCOUNT[1:]):
        body = {"order_id": "o", "amount": "1", "currency": "XLM", "destination": destination}
        response = await client.post("/payments/initiate", json=body, headers=auth(key))
        assert response.status == 422, destination
        assert "destination" in [e["field"] for e in (await response.json())["errors"]]
    async with db.read() as conn:
        assert sum((await payment_store.count_by_status(conn)).values()) == 0


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (f'[[accounts]]\naddress = "{BAD_CHECKSUM}"\ndefault = true\n', "accounts"),
        (
            f'[[accounts]]\naddress = "{ACCOUNT}"\ndefault = true\n'
            f'[assets.USDC]\ncode = "USDC"\nissuer = "{BAD_CHECKSUM}"\n',
            "assets",
        ),
    ],
)
def test_bad_checksum_strkeys_are_refused_by_the_config(tmp_path: Any, toml: str, key: str) -> None:
    path = tmp_path / "paywatch.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ={})
    assert key in str(error.value)


@pytest.mark.parametrize("field", ["to", "from"])
def test_bad_checksum_strkeys_are_refused_in_horizon_records(field: str) -> None:
    record = payment_record(5 << 32)
    record[field] = BAD_CHECKSUM
    with pytest.raises(RecordError):
        parse_credits(record, record["transaction"])


# --- abuse ---------------------------------------------------------------------------------------


async def test_many_concurrent_initiates_for_one_order_make_one_pending_payment(
    client: TestClient[Any, Any], db: Database
) -> None:
    key = await new_api_key(db, ("payments:write",))
    body = {"order_id": "race", "amount": "5", "currency": "XLM"}
    responses = await asyncio.gather(
        *(client.post("/payments/initiate", json=body, headers=auth(key)) for _ in range(30))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 29 + [201], statuses
    ids = {(await r.json())["id"] for r in responses}
    assert len(ids) == 1
    different = await asyncio.gather(
        *(
            client.post(
                "/payments/initiate", json={**body, "order_id": "race-2", "amount": str(n)}, headers=auth(key)
            )
            for n in range(1, 21)
        )
    )
    assert sorted(r.status for r in different).count(201) == 1
    assert {r.status for r in different} <= {201, 409}
    async with db.read() as conn:
        assert (await payment_store.count_by_status(conn)) == {"pending": 2}


class EndlessHorizon(HorizonClient):
    """A stream that never ends: as many records as the reader will take (counted)."""

    def __init__(self) -> None:
        self.sent = 0

    async def stream(  # type: ignore[override]
        self, path: str, params: Any, *, last_event_id: str | None, silence_timeout: float
    ) -> AsyncGenerator[SSEEvent, None]:
        while True:
            self.sent += 1
            yield SSEEvent("message", "{}", str((1 << 32) + self.sent))


class SignallingQueue(asyncio.Queue[Any]):
    """The watcher's queue, telling when it is full."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.filled = asyncio.Event()

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)
        if self.full():
            self.filled.set()


async def test_a_flood_is_held_back_by_the_watcher_s_bounded_queue(db: Database, db_url: str) -> None:
    """The reader stops reading the socket while the ingestor is behind: memory is the queue's bound."""
    maxsize = Watcher(make_settings(db_url, [ACCOUNT]), db).queue.maxsize
    assert 0 < maxsize <= 10_000
    queue = SignallingQueue(maxsize)
    horizon = EndlessHorizon()
    reader = StreamReader("s", "/payments", horizon, queue, "0", silence_timeout=5)
    task = asyncio.create_task(reader.run())
    try:
        await asyncio.wait_for(queue.filled.wait(), 30)
        for _ in range(100):
            await asyncio.sleep(0)  # the reader gets every chance to read on
        assert queue.qsize() == maxsize
        assert horizon.sent <= maxsize + 1  # nothing read ahead of what can be queued
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def dust(token: int) -> StreamRecord:
    record = payment_record(token, amount="0.0000001")  # no memo, no muxed id: unmatched
    return StreamRecord(f"account:{record['to']}", str(token), json.dumps(record))


async def test_unmatched_dust_does_not_make_matching_dearer_nor_stay_in_memory(
    db: Database, db_url: str
) -> None:
    """Real payments cost the same store work with or without thousands of dust receipts stored, and
    the ingestor keeps no per-receipt state: memory after 4000 dust records is what it was after 500."""
    destination = payment_record(1)["to"]
    settings = make_settings(db_url, [destination])
    ctx = context_from_settings(settings)
    async with db.write() as conn:
        await stream_store.create_stream(conn, f"account:{destination}", "0", ctx.now())
    ingestor = Ingestor(
        db, ctx, HorizonClient(["http://127.0.0.1:9"], None), asyncio.Queue(), lambda _s: {destination}
    )  # type: ignore[arg-type]
    tokens = iter(range(1 << 32, 1 << 40, 4096))

    async def real_payments(count: int) -> list[StreamRecord]:
        from api.models import InitiatePayment
        from api.service import initiate

        records = []
        for _ in range(count):
            body = InitiatePayment(order_id=f"o-{time.monotonic_ns()}", amount="1", currency="XLM")
            row, _ = await initiate(db, settings, ctx, body)
            token = next(tokens)
            record = payment_record(token, memo={"memo_type": "id", "memo": str(row.reference)})
            records.append(StreamRecord(f"account:{destination}", str(token), json.dumps(record)))
        return records

    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    async def statements_for(batch: list[StreamRecord]) -> int:
        nonlocal statements
        statements = 0
        event.listen(db.writer.sync_engine, "before_cursor_execute", count)
        try:
            await ingestor.apply_batch(batch)
        finally:
            event.remove(db.writer.sync_engine, "before_cursor_execute", count)
        return statements

    quiet = await statements_for(await real_payments(10))
    await ingestor.apply_batch([dust(next(tokens)) for _ in range(500)])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(7):
            await ingestor.apply_batch([dust(next(tokens)) for _ in range(500)])
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    flooded = await statements_for(await real_payments(10))
    assert flooded == quiet, "matching real payments needed more store work after the flood"
    ours = [tracemalloc.Filter(True, "*/shared/*"), tracemalloc.Filter(True, "*/watcher/*")]
    grown = sum(
        stat.size_diff
        for stat in after.filter_traces(ours).compare_to(before.filter_traces(ours), "filename")
    )
    assert grown < 256 * 1024, f"3500 dust records left {grown} bytes behind in paywatch's own code"
    async with db.read() as conn:
        unmatched = await receipt_store.list_unmatched(conn, limit=10_000)
    assert len(unmatched) == 4000  # every dust payment is on record, as a receipt in the store


# --- SEP-29 --------------------------------------------------------------------------------------


async def test_the_watcher_warns_about_accounts_without_the_memo_required_flag(
    network: Network, db: Database, db_url: str, log_output: io.StringIO
) -> None:
    flagged, bare = await asyncio.gather(network.funded(), network.funded())
    await network.client.set_data(flagged, "config.memo_required", "1")
    settings = make_settings(
        db_url,
        [flagged.public_key, bare.public_key],
        horizon_url=network.url,
        passphrase=network.net.passphrase,
    )
    async with running_watcher(settings, db) as watcher:
        await asyncio.wait_for(watcher.memo_checked.wait(), 20)
        assert watcher.memo_not_required == [bare.public_key]
    warnings = [
        line
        for line in map(json.loads, log_output.getvalue().splitlines())
        if line.get("event") == "receiving account does not require a memo (SEP-29)"
    ]
    assert [line["account"] for line in warnings] == [bare.public_key]
    assert warnings[0]["level"] == "warning"


async def test_a_text_memo_with_a_nul_byte_is_recorded_and_the_watcher_goes_on(watching: Shop) -> None:
    """A NUL is a valid memo byte on Stellar, but no store text column can hold one."""
    shop = watching
    odd = await shop.client.pay(shop.buyer, shop.merchant.public_key, "1", memo=TextMemo(b"pw-\x00x"))
    assert odd.successful, odd.result_codes
    receipt = await wait_receipt(shop.db, odd.hash)
    assert (receipt.disposition, receipt.memo) == ("unmatched", "pw-\ufffdx")
    created = await initiate(shop.api, shop.key, order_id="after-nul", amount="2", currency="XLM")
    paid = await shop.client.pay(
        shop.buyer, shop.merchant.public_key, "2", memo=IdMemo(int(created["reference"]))
    )
    assert paid.successful
    await wait_status(shop.db, created["id"], "confirmed")
