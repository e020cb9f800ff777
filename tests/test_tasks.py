"""Ending the watcher's tasks: a cancellation lost in a library must not hang a shutdown."""

from __future__ import annotations

import asyncio

from watcher.tasks import cancel_all


async def test_a_task_that_loses_a_cancellation_is_cancelled_again() -> None:
    swallowed = asyncio.Event()

    async def loses_the_first_cancellation() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:  # as a timeout firing at the same moment would turn it into
            swallowed.set()  # a TimeoutError that a retry loop takes for silence
        await asyncio.Event().wait()

    async def fails() -> None:
        raise RuntimeError("ended with an error")

    stubborn = asyncio.create_task(loses_the_first_cancellation())
    failing = asyncio.create_task(fails())
    await asyncio.sleep(0)  # both started
    await asyncio.wait_for(cancel_all([stubborn, failing]), timeout=5)
    assert swallowed.is_set()
    assert stubborn.cancelled()
    assert isinstance(failing.exception(), RuntimeError)
