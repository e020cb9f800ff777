"""journald's native protocol, without libsystemd (systemd's docs/JOURNAL_NATIVE_PROTOCOL.md).

One entry = one datagram on the AF_UNIX/SOCK_DGRAM socket `/run/systemd/journal/socket`:
`FIELD=value\\n` per field, or `FIELD\\n<64-bit little-endian length><bytes>\\n` when the value holds a
newline. An entry too big for a datagram goes in a sealed memfd passed with SCM_RIGHTS. Field names
are `[A-Z0-9_]`, not starting with `_` (those are trusted fields journald adds itself) or a digit.

Each field becomes a real journal field, so `journalctl -u paywatch-watcher PAYMENT_ID=pay_…` works.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import socket
import struct
from collections.abc import Mapping

DEFAULT_SOCKET = "/run/systemd/journal/socket"
SOCKET_ENV = "PAYWATCH_JOURNAL_SOCKET"  # tests point this at a socket they own
JOURNAL_STREAM_ENV = "JOURNAL_STREAM"
SEND_TIMEOUT_SECONDS = 2.0
_NOT_A_NAME = re.compile(r"[^A-Z0-9_]")


def stream_is_journal(fd: int, journal_stream: str | None) -> bool:
    """Whether `fd` is the journald stream systemd connected: $JOURNAL_STREAM is its "device:inode"."""
    if not journal_stream:
        return False
    device, _, inode = journal_stream.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(fd)
    except OSError:
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


def field_name(key: str) -> str | None:
    """The journal field for a log key (`payment_id` → `PAYMENT_ID`); None if it cannot be one."""
    name = _NOT_A_NAME.sub("_", key.upper())[:64]
    if not name or name[0] == "_" or name[0].isdigit():
        return None
    return name


def encode(fields: Mapping[str, str]) -> bytes:
    parts: list[bytes] = []
    for name, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            parts.append(name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n")
        else:
            parts.append(name.encode() + b"=" + data + b"\n")
    return b"".join(parts)


class JournalSender:
    """Sends encoded entries to journald (or to the socket named by $PAYWATCH_JOURNAL_SOCKET)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # journald applies back-pressure by blocking senders; never wedge the event loop for long.
        self._sock.settimeout(SEND_TIMEOUT_SECONDS)

    def send(self, entry: bytes) -> None:
        """Raises OSError when the entry could not be handed to journald."""
        try:
            self._sock.sendto(entry, self.path)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            self._send_memfd(entry)

    def _send_memfd(self, entry: bytes) -> None:
        fd = os.memfd_create("paywatch-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(entry)
            while view:
                view = view[os.write(fd, view) :]
            # journald only accepts a memfd that can no longer change.
            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
            # (socket.send_fds ignores its address argument on Python 3.11: sendmsg directly.)
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))]
            self._sock.sendmsg([b""], rights, 0, self.path)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._sock.close()
