"""Ending asyncio tasks for sure."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import structlog

log = structlog.get_logger("paywatch.watcher")


async def cancel_all(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until every one has ended.

    A cancellation can be lost inside a library when a timeout fires at the same moment (the
    CancelledError comes out as TimeoutError, which a stream reader treats as silence and retries).
    A task still running after a second is therefore cancelled again instead of waited for forever.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
        if pending:
            log.warning("tasks still running after cancellation; cancelling again", tasks=len(pending))
    for task in tasks:  # retrieved, as gather(return_exceptions=True) would: ending them was the point
        if not task.cancelled():
            task.exception()
