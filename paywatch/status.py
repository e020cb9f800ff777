"""`paywatch status`: the watcher's state as the store records it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shared.clock import utcnow
from shared.config import Settings
from shared.store import payments as payment_store
from shared.store import status as status_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from shared.views import iso


async def collect_status(db: Database) -> dict[str, Any]:
    async with db.read() as conn:
        status = await status_store.get_status(conn)
        streams = await stream_store.all_streams(conn)
        counts = await payment_store.count_by_status(conn)
    now = utcnow()
    heartbeat_age = (now - status.heartbeat_at).total_seconds() if status and status.heartbeat_at else None
    return {
        "watcher": {
            "state": status.state if status else "never started",
            "mode": status.mode if status else None,
            "pid": status.pid if status else None,
            "heartbeat_at": iso(status.heartbeat_at) if status else None,
            "heartbeat_age_seconds": round(heartbeat_age, 1) if heartbeat_age is not None else None,
        },
        "active_streams": sum(1 for s in streams if s.connected),
        "streams": [
            {
                "key": s.key,
                "cursor": s.cursor,
                "connected": s.connected,
                "last_ledger": s.last_ledger,
                "last_closed_at": iso(s.last_closed_at),
                "last_event_at": iso(s.last_event_at),
                "last_error": s.last_error,
            }
            for s in streams
        ],
        "payments": counts,
        "pending_payments": counts.get("pending", 0),
    }


def print_status(settings: Settings, *, as_json: bool) -> int:
    async def main() -> dict[str, Any]:
        db = Database.open(settings.database_url)
        try:
            return await collect_status(db)
        finally:
            await db.close()

    data = asyncio.run(main())
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    watcher = data["watcher"]
    print(
        f"watcher: {watcher['state']} (mode {watcher['mode']}, heartbeat {watcher['heartbeat_age_seconds']} s ago)"
    )
    print(f"streams: {data['active_streams']} connected of {len(data['streams'])}")
    for stream in data["streams"]:
        state = "connected" if stream["connected"] else f"down ({stream['last_error'] or 'not started'})"
        print(f"  {stream['key']}: cursor {stream['cursor']} ledger {stream['last_ledger']} {state}")
    print(f"pending payments: {data['pending_payments']}")
    return 0
