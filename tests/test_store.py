"""The store on both backends: migrations, schema checks, idempotent receipts, one pending per order."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from api.models import InitiatePayment
from api.service import initiate
from shared.apply import apply_credit, context_from_settings
from shared.domain.assets import NATIVE
from shared.domain.credits import Credit
from shared.domain.references import Memo
from shared.store import events as event_store
from shared.store import payments as payment_store
from shared.store import receipts as receipt_store
from shared.store.engine import Database
from shared.store.migrate import SchemaError, current_revision, ensure_schema, head_revision, upgrade
from tests.conftest import make_settings

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"


def test_fresh_sqlite_file_migrates_itself_on_first_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert current_revision(url) is None
    ensure_schema(url)
    assert current_revision(url) == head_revision()


def test_outdated_schema_is_refused_with_one_line(db_url: str) -> None:
    ensure_schema(db_url, migrate_fresh_sqlite=False)  # current: fine
    from sqlalchemy import create_engine

    from shared.store.engine import sync_url

    engine = create_engine(sync_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(SchemaError, match="run `paywatch migrate`") as caught:
        ensure_schema(db_url)
    assert "\n" not in str(caught.value)


def test_postgres_without_schema_is_refused(postgres_template: str) -> None:
    import uuid

    from tests.conftest import _admin, _pg_url

    name = f"paywatch_t_{uuid.uuid4().hex[:16]}"
    _admin(f"CREATE DATABASE {name}")
    try:
        with pytest.raises(SchemaError, match="no paywatch schema"):
            ensure_schema(_pg_url(name))
        assert upgrade(_pg_url(name)) == head_revision()
        ensure_schema(_pg_url(name))
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_concurrent_first_runs_on_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = "import sys; from shared.store.migrate import ensure_schema; ensure_schema(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, url]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert current_revision(url) == head_revision()


def credit_for(reference: int, *, op: str = "1000", amount: int = 250_000_000) -> Credit:
    return Credit(
        operation_id=op,
        part=0,
        operation_type="payment",
        destination=ACCOUNT,
        amount=amount,
        asset=NATIVE,
        source="GDV4KECLSZLKRVH4ZTWVAS4I3W2LPAPV66ADFFUZKGIVOTK6GMKGJT53",
        muxed_id=None,
        memo=Memo("id", reference),
        transaction_hash="ab" * 32,
        ledger=7,
        closed_at=datetime.now(UTC),
        paging_token=op,
    )


async def test_a_replayed_credit_changes_nothing(db: Database, db_url: str) -> None:
    settings = make_settings(db_url, [ACCOUNT])
    ctx = context_from_settings(settings)
    payment, created = await initiate(
        db, settings, ctx, InitiatePayment(order_id="42", amount="25", currency="XLM")
    )
    assert created
    for _ in range(3):
        async with db.write() as conn:
            await apply_credit(conn, credit_for(payment.reference), ctx)
    async with db.read() as conn:
        row = await payment_store.get_payment(conn, payment.id)
        receipts = await receipt_store.for_payment(conn, payment.id)
        events = await event_store.for_payment(conn, payment.id)
    assert row is not None
    assert row.status == "confirmed"
    assert row.amount_received == 250_000_000
    assert len(receipts) == 1
    assert [e.type for e in events] == ["payment.initiated", "payment.funds_received", "payment.confirmed"]


async def test_unmatched_credit_is_recorded_once(db: Database, db_url: str) -> None:
    ctx = context_from_settings(make_settings(db_url, [ACCOUNT]))
    credit = replace(credit_for(12345), memo=Memo("none"))
    async with db.write() as conn:
        applied = await apply_credit(conn, credit, ctx)
        again = await apply_credit(conn, credit, ctx)
    assert applied is not None
    assert again is None
    assert (applied.receipt.disposition, applied.receipt.reason) == ("unmatched", "no_memo")
    async with db.read() as conn:
        assert len(await receipt_store.list_unmatched(conn)) == 1
        assert [e.type for e in await event_store.list_events(conn)] == ["receipt.unmatched"]


async def test_concurrent_initiates_for_one_order_make_one_pending_payment(db: Database, db_url: str) -> None:
    settings = make_settings(db_url, [ACCOUNT])
    ctx = context_from_settings(settings)
    body = InitiatePayment(order_id="order-7", amount="10", currency="XLM")
    results = await asyncio.gather(*(initiate(db, settings, ctx, body) for _ in range(12)))
    assert len({payment.id for payment, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with db.read() as conn:
        counts = await payment_store.count_by_status(conn)
    assert counts == {"pending": 1}


async def test_timestamps_keep_microseconds_and_utc(db: Database, db_url: str) -> None:
    settings = make_settings(db_url, [ACCOUNT])
    moment = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    ctx = replace(context_from_settings(settings), now=lambda: moment)
    payment, _ = await initiate(db, settings, ctx, InitiatePayment(order_id="t", amount="1", currency="XLM"))
    async with db.read() as conn:
        row = await payment_store.get_payment(conn, payment.id)
    assert row is not None
    assert row.created_at == moment
    assert row.expires_at == moment + timedelta(minutes=30)


def test_migrations_build_exactly_the_model_schema(db_url: str) -> None:
    """Alembic's comparison of the migrated database with shared/store/schema.py finds nothing."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from shared.store.engine import sync_url
    from shared.store.schema import metadata

    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert differences == []


async def test_event_ids_become_visible_in_commit_order_on_postgres(postgres_url: str) -> None:
    """A reader of `GET /events?after=` must never see a later id committed before an earlier one.

    Transaction A writes an event and stays open; transaction B writes one too. B must wait for A
    (or else B's higher id would be visible while A's lower one is not, and a consumer polling the
    feed would move past A's event for good).
    """
    db = Database.open(postgres_url)
    now = datetime.now(UTC)

    def event(name: str) -> dict[str, object]:
        return {
            "type": "receipt.unmatched",
            "payment_id": None,
            "created_at": now,
            "data": f'{{"n":"{name}"}}',
        }

    a_written, release_a = asyncio.Event(), asyncio.Event()

    async def write_a() -> list[int]:
        async with db.write() as conn:
            ids = await event_store.insert_events(conn, [event("a")])
            a_written.set()
            await release_a.wait()
        return ids

    async def write_b() -> list[int]:
        async with db.write() as conn:
            return await event_store.insert_events(conn, [event("b")])

    async def b_waits_for_a() -> bool:
        async with db.read() as conn:
            waiting = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'"
                )
            )
            return bool(waiting.scalar_one())

    try:
        task_a = asyncio.create_task(write_a())
        await a_written.wait()
        task_b = asyncio.create_task(write_b())
        # Wait until B either committed (the failure this test exists for) or is seen waiting for A.
        deadline = asyncio.get_running_loop().time() + 10
        while not task_b.done() and not await b_waits_for_a():
            assert asyncio.get_running_loop().time() < deadline, "B neither finished nor waited"
            await asyncio.sleep(0.01)
        async with db.read() as conn:
            visible = await event_store.list_events(conn, after_id=0)
        assert visible == [], "an event became visible while an earlier id was uncommitted"
        release_a.set()
        (a_id,), (b_id,) = await task_a, await task_b
        assert a_id < b_id
        async with db.read() as conn:
            assert [row.id for row in await event_store.list_events(conn, after_id=0)] == [a_id, b_id]
    finally:
        release_a.set()
        await db.close()
