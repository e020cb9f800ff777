"""Operations test support: daemons as real processes with a NOTIFY_SOCKET the test owns, and a
journald stand-in (a unix datagram socket decoding the native protocol)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

Message = dict[str, str]


@contextmanager
def socket_dir() -> Iterator[Path]:
    """A short directory for unix sockets (their paths are limited to 107 bytes)."""
    path = Path(mkdtemp(prefix="pw-", dir="/tmp"))
    try:
        yield path
    finally:
        for entry in path.iterdir():
            entry.unlink()
        path.rmdir()


class DatagramSocket:
    """A bound AF_UNIX/SOCK_DGRAM socket read from the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.received: list[Any] = []

    def close(self) -> None:
        self.sock.close()

    async def _datagram(self, wait_seconds: float) -> bytes | None:
        try:
            return await asyncio.wait_for(
                asyncio.get_running_loop().sock_recv(self.sock, 1 << 20), wait_seconds
            )
        except TimeoutError:
            return None


def parse_notify(datagram: bytes) -> Message:
    message: Message = {}
    for line in datagram.decode().split("\n"):
        if line:
            key, _, value = line.partition("=")
            message[key] = value
    return message


class NotifySocket(DatagramSocket):
    """What a daemon tells systemd, in order."""

    async def next(self, wait_seconds: float) -> Message | None:
        datagram = await self._datagram(wait_seconds)
        if datagram is None:
            return None
        message = parse_notify(datagram)
        self.received.append(message)
        return message

    async def until(self, predicate: Callable[[Message], bool], within: float = 30.0) -> list[Message]:
        """Messages up to and including the first that satisfies `predicate`."""
        seen: list[Message] = []
        deadline = time.monotonic() + within
        while True:
            message = await self.next(max(deadline - time.monotonic(), 0.0))
            if message is None:
                raise AssertionError(f"no matching notification within {within} s; got {seen}")
            seen.append(message)
            if predicate(message):
                return seen

    def drain(self) -> list[Message]:
        """What was sent and not read yet (e.g. after the process exited)."""
        seen: list[Message] = []
        while True:
            try:
                datagram = self.sock.recv(1 << 20)
            except BlockingIOError:
                return seen
            seen.append(parse_notify(datagram))
            self.received.append(seen[-1])

    async def during(self, seconds: float) -> list[Message]:
        """Everything sent in the next `seconds`."""
        seen: list[Message] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            message = await self.next(left)
            if message is not None:
                seen.append(message)
        return seen


def parse_journal_entry(data: bytes) -> Message:
    """journald's native protocol: `KEY=value\\n`, or `KEY\\n<u64 LE length><bytes>\\n`."""
    fields: Message = {}
    position = 0
    while position < len(data):
        newline = data.index(b"\n", position)
        line = data[position:newline]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            position = newline + 1
        else:
            (length,) = struct.unpack("<Q", data[newline + 1 : newline + 9])
            start = newline + 9
            fields[line.decode()] = data[start : start + length].decode()
            assert data[start + length : start + length + 1] == b"\n"
            position = start + length + 1
    return fields


class JournalSocket(DatagramSocket):
    """A stand-in for /run/systemd/journal/socket."""

    async def entry(self, predicate: Callable[[Message], bool], within: float = 30.0) -> Message:
        deadline = time.monotonic() + within
        for entry in self.received:
            if predicate(entry):
                return entry  # type: ignore[no-any-return]
        while True:
            datagram = await self._datagram(max(deadline - time.monotonic(), 0.0))
            if datagram is None:
                raise AssertionError(f"no matching journal entry within {within} s")
            entry = parse_journal_entry(datagram)
            self.received.append(entry)
            if predicate(entry):
                return entry


class Daemon:
    """`paywatch <command>` as a real process; stopped by its pid."""

    def __init__(self, command: str, config: Path, log: Path, env: dict[str, str]) -> None:
        self.command = command
        self.config = config
        self.log = log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "paywatch.cli", self.command, "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def paywatch_cli(*args: str) -> str:
    """Run `paywatch ARGS` to completion; its stdout (fails on a non-zero exit)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paywatch.cli", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()
