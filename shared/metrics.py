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
