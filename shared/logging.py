"""structlog setup: journald native fields under systemd, JSON lines otherwise, secrets never logged.

Context is bound with `structlog.contextvars` (the API binds `request_id`, and `payment_id` for
routes about one payment) or passed per call (`payment_id=`, `tx_hash=`, `account=`). Outputs:

- `journal`: one native journal entry per event; every key becomes a field (`payment_id` →
  `PAYMENT_ID`), plus `MESSAGE`, `PRIORITY` and `SYSLOG_IDENTIFIER`. `auto` picks it when
  $JOURNAL_STREAM says stdout or stderr is connected to journald (i.e. running as a systemd unit).
- `json`: one JSON object per line on stdout (containers, files, CI).
- `console`: coloured key=value lines for a terminal (`auto` on a TTY).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

import structlog
from pydantic import SecretStr

from shared.journal import JOURNAL_STREAM_ENV, JournalSender, encode, field_name, stream_is_journal

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# syslog priorities (journald's PRIORITY field)
PRIORITIES = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
REDACTED = "**********"

# Keys whose value is a secret whatever it looks like, and secret-shaped text inside any value.
_SECRET_KEY = re.compile(r"secret|password|passwd|authorization|api_?key|credential|seed", re.IGNORECASE)
_SECRET_TEXT = re.compile(
    "|".join(
        (
            r"whsec_[A-Za-z0-9+/=_-]+",  # Standard Webhooks secrets
            r"pw_[a-z0-9]{12}_[A-Za-z0-9_-]{20,}",  # API keys
            r"\bS[A-Z2-7]{55}\b",  # Stellar secret seeds
            r"(?<=://)[^/@\s:]*:[^/@\s]*(?=@)",  # user:password@ in URLs
        )
    )
)
_INTERNAL_KEYS = ("event", "level", "timestamp", "logger", "exception")


def scrub(text: str) -> str:
    return _SECRET_TEXT.sub(REDACTED, text)  # one pass: this runs on every string of every log line


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def redact_secrets(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: secrets are never passed to a log call on purpose, nor shown if they are."""
    for key, value in list(event.items()):
        if isinstance(value, SecretStr) or (_secret_key(key) and value not in (None, "")):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = scrub(value)
    return event


def add_logger_name(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    name = getattr(_logger, "name", None)
    if name and "logger" not in event:
        event["logger"] = name
    return event


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def message_of(event: Mapping[str, Any]) -> str:
    """What `journalctl` shows: the event, its context as key=value, then a traceback if any."""
    parts = [str(event.get("event", ""))]
    for key, value in event.items():
        if key in _INTERNAL_KEYS or value is None:
            continue
        text = _text(value)
        parts.append(f"{key}={json.dumps(text, ensure_ascii=False) if ' ' in text or not text else text}")
    message = " ".join(parts)
    if event.get("exception"):
        message += "\n" + str(event["exception"])
    return message


class JournalRenderer:
    """Final processor: the event as a native journal entry (and a JSON line, should sending fail)."""

    def __init__(self, identifier: str) -> None:
        self.identifier = identifier

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
        fields = {
            "MESSAGE": message_of(event),
            "PRIORITY": str(PRIORITIES.get(str(event.get("level", "info")), 6)),
            "SYSLOG_IDENTIFIER": self.identifier,
        }
        for key, value in event.items():
            name = field_name(key)
            if key in ("event", "level", "timestamp") or name is None or value is None or name in fields:
                continue
            fields[name] = _text(value)
        line = json.dumps(dict(event), default=str, ensure_ascii=False)
        return {"entry": encode(fields), "line": line}


class _Output:
    """A structlog logger that writes what the final processor rendered."""

    def __init__(self, name: str | None, stream: IO[str], sender: JournalSender | None) -> None:
        self.name = name
        self._stream = stream
        self._sender = sender

    def msg(self, message: str | None = None, *, entry: bytes = b"", line: str = "") -> None:
        if self._sender is not None:
            try:
                self._sender.send(entry)
                return
            except OSError:
                message = line  # journald unavailable: keep the event as a JSON line on stderr
                stream: IO[str] = sys.stderr
        else:
            stream = self._stream
        stream.write((message or "") + "\n")
        stream.flush()

    debug = info = warning = warn = error = err = critical = fatal = exception = log = msg


class _OutputFactory:
    def __init__(self, stream: IO[str], sender: JournalSender | None) -> None:
        self.stream = stream
        self.sender = sender

    def __call__(self, *args: Any) -> _Output:
        return _Output(str(args[0]) if args else None, self.stream, self.sender)


def choose_format(fmt: str, stream: IO[str], environ: Mapping[str, str] | None = None) -> str:
    """`auto` → journal under systemd's journal stream, console on a terminal, JSON otherwise."""
    if fmt != "auto":
        return fmt
    env = os.environ if environ is None else environ
    journal_stream = env.get(JOURNAL_STREAM_ENV)
    for fd in (1, 2):
        if stream_is_journal(fd, journal_stream):
            return "journal"
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


def configure(
    level: str = "info",
    fmt: str = "auto",
    *,
    identifier: str = "paywatch",
    stream: IO[str] | None = None,
    journal_socket: str | None = None,
) -> str:
    """Configure structlog for this process; returns the output chosen (journal, json or console)."""
    output = stream or sys.stdout
    chosen = choose_format(fmt, output)
    renderer: Any
    sender: JournalSender | None = None
    if chosen == "journal":
        sender = JournalSender(journal_socket)
        renderer = JournalRenderer(identifier)
    elif chosen == "console":
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer(default=str)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=_OutputFactory(output, sender),
        cache_logger_on_first_use=False,
    )
    return chosen
