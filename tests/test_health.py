"""The watcher's health view: Horizon being unreachable is visible but is not a watchdog failure."""

from __future__ import annotations

from shared.clock import utcnow
from shared.store import streams as stream_store
from shared.store.engine import Database
from tests.conftest import make_settings
from tests.support import eventually, running_watcher

ACCOUNT = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"


async def test_horizon_down_still_ready_and_healthy_but_status_says_so(db: Database, db_url: str) -> None:
    settings = make_settings(db_url, [ACCOUNT], horizon_url="http://127.0.0.1:9")  # nothing listens
    async with db.write() as conn:  # a stream positioned by an earlier run: it resumes from its cursor
        await stream_store.create_stream(conn, f"account:{ACCOUNT}", "8589938689", utcnow())
    async with running_watcher(settings, db) as watcher:
        (reader,) = watcher.readers.values()
        assert not reader.state.connected
        assert reader.state.errors >= 1  # READY came after the first attempt failed
        assessment = watcher.health.observe()
        assert assessment.ok, assessment.problems  # a restart would not bring Horizon back
        line = watcher.health.status_line(assessment)
        assert line.startswith("mode=accounts streams=0/1 lag=")
        assert "1 stream(s) down: " in line
        assert watcher.health.last_errors[0]["source"] == f"account:{ACCOUNT}"


async def test_horizon_down_before_the_first_stream_opens_shows_in_status(db: Database, db_url: str) -> None:
    # No stored cursor: the stream cannot open before Horizon answers where to start from.
    settings = make_settings(db_url, [ACCOUNT], horizon_url="http://127.0.0.1:9")  # nothing listens
    async with running_watcher(settings, db) as watcher:

        async def noted() -> dict[str, str] | None:
            errors = list(watcher.health.last_errors)
            return errors[0] if errors else None

        error = await eventually(noted, within=10, what="the positioning error in last_errors")
        assert error["source"] == f"position account:{ACCOUNT}"
        assert "ClientConnectorError" in error["error"] or "Connect" in error["error"]
        assert watcher.health.details()["last_errors"][0] == error  # what the heartbeat writes
