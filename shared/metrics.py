"""Prometheus metrics (prefix `paywatch_`), one registry per process.

Each process exposes what it updates: the watcher (its own listener, `watcher.metrics_host:port`)
the stream, lag and ingest series; the API (`GET /metrics`) the HTTP series. Receipts, transitions,
events and confirmation latency are counted by whichever process commits the change (after the
commit, never for a rolled-back transaction): sum them across jobs in PromQL.

Labels are bounded: no payment ids, accounts, references or raw paths. `asset` is an asset code,
which is bounded by the trustlines the receiving accounts hold; `route` is the route template.
Webhook delivery and outbox metrics are defined with the webhook dispatcher.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)

from paywatch import __version__
from shared.store.engine import after_commit

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)  # process_*, python_* series (CPU, memory, fds, GC)

BUILD = Info("paywatch_build", "paywatch version", registry=REGISTRY)
BUILD.info({"version": __version__})

# --- payments (counted after the commit that made the change) ---------------------------------
RECEIPTS = Counter(
    "paywatch_receipts_total",
    "Receipts recorded, by disposition (accepted, late, rejected, unmatched) and asset code",
    ["disposition", "asset"],
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "paywatch_payment_transitions_total",
    "Payment status changes (from_status is 'none' for a new payment)",
    ["from_status", "to_status"],
    registry=REGISTRY,
)
EVENTS = Counter("paywatch_events_total", "Events written, by type", ["type"], registry=REGISTRY)
CONFIRMATION_LATENCY = Histogram(
    "paywatch_confirmation_latency_seconds",
    "From the ledger close of the completing credit to the payment being confirmed",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)

# --- watcher: streams, ingestion, health ---------------------------------------------------------
STREAM_CONNECTS = Counter(
    "paywatch_stream_connects_total", "Horizon stream connections opened (hello received)", registry=REGISTRY
)
STREAM_RECONNECTS = Counter(
    "paywatch_stream_reconnects_total",
    "Stream connections opened after a stream's first (Horizon ends idle streams every ~55 s)",
    registry=REGISTRY,
)
STREAM_ERRORS = Counter(
    "paywatch_stream_errors_total",
    "Stream failures, by kind (not_found, rate_limited, http, protocol, connection, silence)",
    ["kind"],
    registry=REGISTRY,
)
STREAM_ERROR_KINDS = ("not_found", "rate_limited", "http", "protocol", "connection", "silence")
for _kind in STREAM_ERROR_KINDS:
    STREAM_ERRORS.labels(_kind)  # present at 0 from the start, so rate() and alerts see every kind
STREAM_RECORDS = Counter(
    "paywatch_stream_records_total", "Records received from streams (repeats dropped)", registry=REGISTRY
)
STREAMS = Gauge(
    "paywatch_streams", "Streams by state (connected, disconnected, starting)", ["state"], registry=REGISTRY
)
LEDGER_LAG = Gauge(
    "paywatch_ledger_lag_seconds",
    "How far the slowest stream is behind the network: time since it was last known processed up to "
    "the latest ledger",
    registry=REGISTRY,
)
LAST_EVENT = Gauge(
    "paywatch_last_event_timestamp_seconds",
    "Unix time of the last event received on any Horizon stream",
    registry=REGISTRY,
)
PENDING_PAYMENTS = Gauge("paywatch_pending_payments", "Payments in status pending", registry=REGISTRY)
INGEST_QUEUE = Gauge(
    "paywatch_ingest_queue_records", "Records received but not yet committed", registry=REGISTRY
)
HEARTBEAT = Gauge(
    "paywatch_heartbeat_timestamp_seconds",
    "Unix time of the watcher's last successful heartbeat write to the store",
    registry=REGISTRY,
)
HEALTHY = Gauge(
    "paywatch_watcher_healthy",
    "1 while the watcher makes progress (the store answers, received records are committed)",
    registry=REGISTRY,
)
LEADER = Gauge(
    "paywatch_watcher_leader",
    "1 while this watcher leads (holds the lease: reads Horizon, applies changes), 0 while it stands by",
    registry=REGISTRY,
)

# --- API -------------------------------------------------------------------------------------------
HTTP_DURATION = Histogram(
    "paywatch_http_request_duration_seconds",
    "API request duration, by method, route template and status code",
    ["method", "route", "status"],
    registry=REGISTRY,
)


# --- counting what a write transaction did, once it has committed ---------------------------------


@functools.lru_cache(maxsize=4096)
def _child(metric: Counter, *labels: str) -> Any:
    # `labels()` takes a lock and builds a key on every call; the label sets here are few and fixed.
    return metric.labels(*labels)


def count_receipt(disposition: str, asset_code: str) -> None:
    after_commit(_child(RECEIPTS, disposition, asset_code).inc)


def count_event(event_type: str) -> None:
    after_commit(_child(EVENTS, event_type).inc)


def count_transition(from_status: str, to_status: str) -> None:
    after_commit(_child(TRANSITIONS, from_status, to_status).inc)


def observe_confirmation(latency_seconds: float) -> None:
    after_commit(lambda: CONFIRMATION_LATENCY.observe(max(latency_seconds, 0.0)))


# --- outbound webhooks (label `endpoint` = the endpoint's configured name: bounded by the config) ---
WEBHOOK_ATTEMPTS = Counter(
    "paywatch_webhook_attempts_total",
    "Webhook delivery attempts, by endpoint and result (2xx, 3xx, 4xx, 5xx, timeout, error)",
    ["endpoint", "result"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "paywatch_webhook_deliveries_total",
    "Webhook deliveries that reached an outcome: delivered, failed (final 4xx), expired (retries spent), "
    "disabled (endpoint gone: 410)",
    ["endpoint", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_BACKLOG = Gauge(
    "paywatch_webhook_outbox_backlog",
    "Webhook deliveries not yet delivered or failed (waiting or in flight), by endpoint",
    ["endpoint"],
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "paywatch_webhook_delivery_latency_seconds",
    "From an event being written to its webhook being delivered (a 2xx answer)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400, 259200),
    registry=REGISTRY,
)
WEBHOOK_ENDPOINT_DISABLED = Gauge(
    "paywatch_webhook_endpoint_disabled",
    "1 while an endpoint is disabled (it answered 410 Gone), else 0",
    ["endpoint"],
    registry=REGISTRY,
)
