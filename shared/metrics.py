"""Prometheus metrics (prefix `paywatch_`). One registry per process; no payment ids or accounts in
labels. Each process (watcher, API) exposes the metrics it updates."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

RECEIPTS = Counter(
    "paywatch_receipts_total",
    "Receipts recorded, by disposition and asset code",
    ["disposition", "asset"],
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "paywatch_payment_transitions_total",
    "Payment events written, by event type",
    ["event"],
    registry=REGISTRY,
)
STREAM_RECONNECTS = Counter(
    "paywatch_stream_reconnects_total", "Stream connections opened after the first", registry=REGISTRY
)
STREAM_ERRORS = Counter(
    "paywatch_stream_errors_total", "Stream failures, by kind", ["kind"], registry=REGISTRY
)
PENDING_PAYMENTS = Gauge("paywatch_pending_payments", "Payments in status pending", registry=REGISTRY)
CONFIRMATION_LATENCY = Histogram(
    "paywatch_confirmation_latency_seconds",
    "From the ledger close of the completing credit to the payment being confirmed",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)

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
