"""sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET (a stable, documented protocol).

Also the watchdog settings systemd hands a service (`WATCHDOG_USEC`, `WATCHDOG_PID`) and a ping loop
for daemons whose liveness is simply "the event loop turns" (the API). The watcher ties its pings
to progress instead (watcher/health.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping


def notify(message: str) -> bool:
    """Send `message` (e.g. "READY=1\\nSTATUS=…") to systemd; False when not running under it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    elif not address.startswith("/"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def status_text(text: str) -> str:
    """A STATUS= value: one line (a newline would start a new assignment)."""
    return " ".join(text.split())


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """WatchdogSec in seconds when systemd expects pings from THIS process, else None.

    systemd sets WATCHDOG_USEC, and WATCHDOG_PID to the main process: a child that inherited the
    environment must not ping on its parent's behalf.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != (os.getpid() if pid is None else pid)):
        return None
    return int(usec) / 1_000_000


async def ping_watchdog(interval: float, healthy: Callable[[], bool] = lambda: True) -> None:
    """Send WATCHDOG=1 every `interval` seconds while `healthy()`; runs until cancelled."""
    while True:
        if healthy():
            notify("WATCHDOG=1")
        await asyncio.sleep(interval)
