"""What `GET /payments/monitor/status` and `paywatch status` show: the watcher's state from the store.

The watcher writes its heartbeat row (state, mode, network position, details as JSON: lag per
stream, queue, metrics URL, recent errors) and each stream's volatile state; this reads them back
and adds the payment counts and the webhook outbox backlog. One function, so both show the same.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.clock import utcnow
from shared.store import backlog as backlog_store
from shared.store import payments as payment_store
from shared.store import status as status_store
from shared.store import streams as stream_store
from shared.store.engine import Database
from shared.views import iso

STALE_HEARTBEATS = 3  # a heartbeat older than this many intervals means the watcher is not running


def _details(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def collect_status(db: Database, now: datetime | None = None) -> dict[str, Any]:
    async with db.read() as conn:
        instances = await status_store.all_statuses(conn)
        status = instances[0] if instances else None  # the leader (lease holder) first
        streams = await stream_store.all_streams(conn)
        counts = await payment_store.count_by_status(conn)
        backlog = await backlog_store.outbox_backlog(conn)
    now = now or utcnow()
    details = _details(status.details if status else None)
    heartbeat_age = (now - status.heartbeat_at).total_seconds() if status and status.heartbeat_at else None
    interval = details.get("heartbeat_interval_seconds")
    stale = None
    if heartbeat_age is not None and isinstance(interval, int | float):
        stale = heartbeat_age > STALE_HEARTBEATS * interval
    stream_details = details.get("streams") if isinstance(details.get("streams"), dict) else {}
    shown_streams = []
    for row in streams:
        extra = stream_details.get(row.key, {}) if isinstance(stream_details, dict) else {}
        shown_streams.append(
            {
                "key": row.key,
                "account": row.key.removeprefix("account:") if row.key.startswith("account:") else None,
                "cursor": row.cursor,
                "connected": row.connected,
                "lag_seconds": extra.get("lag_seconds"),
                "last_ledger": row.last_ledger,
                "last_closed_at": iso(row.last_closed_at),
                "last_event_at": iso(row.last_event_at),
                "processed_through": iso(row.processed_through),
                "last_error": row.last_error,
                "last_error_at": extra.get("last_error_at"),
                "status_updated_at": iso(row.status_updated_at),
            }
        )
    lags = [s["lag_seconds"] for s in shown_streams if isinstance(s["lag_seconds"], int | float)]
    events = [s["last_event_at"] for s in shown_streams if s["last_event_at"]]
    return {
        "watcher": {
            "state": status.state if status else "never started",
            "role": status.role if status else None,
            "instance": status.instance if status else None,
            "mode": status.mode if status else None,
            "pid": status.pid if status else None,
            "hostname": status.hostname if status else None,
            "started_at": iso(status.started_at) if status else None,
            "heartbeat_at": iso(status.heartbeat_at) if status else None,
            "heartbeat_age_seconds": round(heartbeat_age, 1) if heartbeat_age is not None else None,
            "heartbeat_stale": stale,
            "network_ledger": status.network_ledger if status else None,
            "network_closed_at": iso(status.network_closed_at) if status else None,
            "queue": details.get("queue"),
            "metrics_url": details.get("metrics_url"),
        },
        "mode": status.mode if status else None,
        "active_streams": sum(1 for s in streams if s.connected),
        "lag_seconds": max(lags) if lags else None,
        "last_event_at": max(events) if events else None,  # ISO 8601 UTC text sorts by time
        "streams": shown_streams,
        "pending_payments": counts.get("pending", 0),
        "payments": counts,
        # webhook deliveries not yet delivered or given up (pending or in flight)
        "outbox_backlog": backlog,
        "last_errors": details.get("last_errors", []),
        # Every watcher process on this database: one leads, the others stand by (SPEC §10).
        "instances": [
            {
                "instance": row.instance,
                "role": row.role,
                "state": row.state,
                "pid": row.pid,
                "hostname": row.hostname,
                "heartbeat_age_seconds": (
                    round((now - row.heartbeat_at).total_seconds(), 1) if row.heartbeat_at else None
                ),
            }
            for row in instances
        ],
    }


def render_text(data: dict[str, Any]) -> str:
    """`paywatch status` for a terminal."""
    watcher = data["watcher"]
    age = watcher["heartbeat_age_seconds"]
    heartbeat = (
        "never" if age is None else f"{age} s ago" + (" — STALE" if watcher["heartbeat_stale"] else "")
    )
    lag = data["lag_seconds"]
    backlog = data["outbox_backlog"]
    lines = [
        f"watcher: {watcher['state']} {watcher['role'] or ''} (pid {watcher['pid']} on {watcher['hostname']}), "
        f"heartbeat {heartbeat}",
        f"mode: {data['mode']}   lag: {'unknown' if lag is None else f'{lag} s'}   "
        f"last event: {data['last_event_at'] or 'none'}",
        f"streams: {data['active_streams']} connected of {len(data['streams'])}",
    ]
    for stream in data["streams"]:
        state = "connected" if stream["connected"] else f"down ({stream['last_error'] or 'not started'})"
        stream_lag = "unknown" if stream["lag_seconds"] is None else f"{stream['lag_seconds']} s"
        lines.append(
            f"  {stream['key']}: {state}, cursor {stream['cursor']}, ledger {stream['last_ledger']}, "
            f"lag {stream_lag}, last event {stream['last_event_at'] or 'none'}"
        )
    standbys = [i for i in data["instances"] if i["role"] != "leader"]
    if standbys:
        lines.append(
            "standing by: " + ", ".join(f"pid {i['pid']} on {i['hostname']} ({i['state']})" for i in standbys)
        )
    lines.append(f"pending payments: {data['pending_payments']}")
    lines.append(f"webhook outbox backlog: {'unknown' if backlog is None else backlog}")
    if watcher["metrics_url"]:
        lines.append(f"metrics: {watcher['metrics_url']}")
    if data["last_errors"]:
        lines.append("last errors:")
        lines.extend(f"  {e.get('at')} {e.get('source')}: {e.get('error')}" for e in data["last_errors"])
    return "\n".join(lines)
