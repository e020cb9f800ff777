"""`paywatch status`: the watcher's state as the store records it (same data as the monitor endpoint)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shared.config import Settings
from shared.monitor import collect_status, render_text
from shared.store.engine import Database


def print_status(settings: Settings, *, as_json: bool) -> int:
    async def main() -> dict[str, Any]:
        db = Database.open(settings.database_url)
        try:
            return await collect_status(db)
        finally:
            await db.close()

    data = asyncio.run(main())
    print(json.dumps(data, indent=2) if as_json else render_text(data))
    return 0
