"""Tables. Amounts are BIGINT stroops; times are UTC microseconds (see types.UTCTimestamp)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from shared.store.types import UTCTimestamp

# Named constraints so that Alembic batch migrations on SQLite can address them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

payments = Table(
    "payments",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),  # public, unguessable
    Column("order_id", String(200), nullable=False),
    Column("buyer_id", String(200)),
    Column("status", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(32), nullable=False),
    Column("asset_code", String(12), nullable=False),
    Column("asset_issuer", String(56)),  # NULL for native XLM
    Column("destination", String(56), nullable=False),
    Column("reference", BigInteger, nullable=False, unique=True),
    Column("memo_type", String(8), nullable=False),  # "id" | "text"
    Column("amount_received", BigInteger, nullable=False, server_default="0"),
    Column("amount_late", BigInteger, nullable=False, server_default="0"),
    Column("amount_refunded", BigInteger, nullable=False, server_default="0"),
    Column("flag_late", Boolean, nullable=False, server_default=text("false")),
    Column("flag_overpaid", Boolean, nullable=False, server_default=text("false")),
    Column("flag_manual", Boolean, nullable=False, server_default=text("false")),
    Column("failure_reason", String(16)),
    Column("stellar_transaction_id", String(64)),
    Column("source_account", String(69)),
    Column("metadata", Text),  # JSON text
    Column("created_at", UTCTimestamp, nullable=False),
    Column("updated_at", UTCTimestamp, nullable=False),
    Column("expires_at", UTCTimestamp, nullable=False),
    Column("confirmed_at", UTCTimestamp),
    Column("failed_at", UTCTimestamp),
    Column("refunded_at", UTCTimestamp),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(
        "status IN ('pending', 'confirmed', 'failed', 'timeout', 'refunded')", name="status_known"
    ),
)
# At most one pending payment per order (SPEC §3); concurrent initiates collide here.
Index(
    "uq_payments_pending_order",
    payments.c.order_id,
    unique=True,
    sqlite_where=payments.c.status == "pending",
    postgresql_where=payments.c.status == "pending",
)
Index("ix_payments_order_created", payments.c.order_id, payments.c.created_at)
Index("ix_payments_status_expires", payments.c.status, payments.c.expires_at)
Index("ix_payments_buyer", payments.c.buyer_id)

receipts = Table(
    "receipts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("operation_id", String(32), nullable=False),
    Column("part", Integer, nullable=False, server_default="0"),
    Column("operation_type", String(40), nullable=False),
    Column("payment_id", String(40), ForeignKey("payments.id")),
    Column("disposition", String(16), nullable=False),
    Column("reason", String(40)),
    Column("destination", String(56), nullable=False),
    Column("source", String(69)),
    Column("amount", BigInteger, nullable=False),
    Column("asset_code", String(12), nullable=False),
    Column("asset_issuer", String(56)),
    Column("memo_type", String(8), nullable=False),
    Column("memo", Text),
    Column("muxed_id", String(20)),  # uint64 as decimal text: it may exceed BIGINT
    Column("transaction_hash", String(64), nullable=False),
    Column("ledger", BigInteger),
    Column("closed_at", UTCTimestamp, nullable=False),
    Column("recorded_at", UTCTimestamp, nullable=False),
    Column("assigned_at", UTCTimestamp),
)
# Every crediting operation becomes exactly one receipt: replays change nothing.
Index("uq_receipts_operation", receipts.c.operation_id, receipts.c.part, unique=True)
Index("ix_receipts_payment", receipts.c.payment_id)
Index("ix_receipts_disposition", receipts.c.disposition, receipts.c.id)

# Records that could not be parsed: kept for review, never turned into receipts.
poison_records = Table(
    "poison_records",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("stream", String(80), nullable=False),
    Column("paging_token", String(32), nullable=False),
    Column("error", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("recorded_at", UTCTimestamp, nullable=False),
)
Index("uq_poison_stream_token", poison_records.c.stream, poison_records.c.paging_token, unique=True)

streams = Table(
    "streams",
    metadata,
    Column("key", String(80), primary_key=True),  # "account:G…" or "network"
    Column("cursor", String(32), nullable=False),  # paging token of the last applied record
    Column("last_ledger", BigInteger),  # ledger of the last applied record
    Column("last_closed_at", UTCTimestamp),
    # Every ledger that closed at or before this time has been processed for this stream.
    Column("processed_through", UTCTimestamp),
    # Network mode: an account row whose coverage is the network stream's cursor ("network"), or NULL
    # while the account is followed by its own stream or is being backfilled up to the network stream.
    Column("follows", String(16)),
    Column("created_at", UTCTimestamp, nullable=False),
    Column("updated_at", UTCTimestamp, nullable=False),
    # Volatile status written by the watcher's heartbeat (not part of the cursor's transaction).
    Column("connected", Boolean, nullable=False, server_default=text("false")),
    Column("last_event_at", UTCTimestamp),
    Column("last_error", Text),
    Column("status_updated_at", UTCTimestamp),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("type", String(40), nullable=False),
    Column("payment_id", String(40)),
    Column("created_at", UTCTimestamp, nullable=False),
    Column("data", Text, nullable=False),  # JSON
)
Index("ix_events_type_id", events.c.type, events.c.id)
Index("ix_events_payment", events.c.payment_id)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # public key id, also the key's prefix
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False),  # sha256 hex of the whole key
    Column("scopes", Text, nullable=False),  # space-separated
    Column("created_at", UTCTimestamp, nullable=False),
    Column("revoked_at", UTCTimestamp),
    Column("last_used_at", UTCTimestamp),
)

watcher_status = Table(
    "watcher_status",
    metadata,
    Column("instance", String(120), primary_key=True),  # host:pid:random, one row per watcher process
    Column("role", String(16), nullable=False),  # leader | standby
    Column("state", String(16), nullable=False),  # starting | running | stopping | stopped
    Column("mode", String(16), nullable=False),
    Column("pid", Integer),
    Column("hostname", String(255)),
    Column("started_at", UTCTimestamp),
    Column("heartbeat_at", UTCTimestamp),
    Column("network_ledger", BigInteger),  # Horizon's latest ledger as last seen
    Column("network_closed_at", UTCTimestamp),
    Column("last_error", Text),
    Column("details", Text),  # JSON: extra status for operators
)

# Leadership among watcher processes: one lease row; every leader write transaction checks `token`
# (fencing: a deposed leader's later transactions fail instead of writing).
leases = Table(
    "leases",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(120), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("lease_until", BigInteger, nullable=False),  # microseconds, on the database server's clock
    Column("acquired_at", BigInteger, nullable=False),
)

# Verified refund payments from a receiving account back to a payer (one row per Horizon operation).
refunds = Table(
    "refunds",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("payment_id", String(40), ForeignKey("payments.id"), nullable=False),
    Column("operation_id", String(32), nullable=False, unique=True),
    Column("transaction_hash", String(64), nullable=False),
    Column("to_account", String(56), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("asset_code", String(12), nullable=False),
    Column("asset_issuer", String(56)),
    Column("ledger", BigInteger),
    Column("closed_at", UTCTimestamp, nullable=False),
    Column("recorded_at", UTCTimestamp, nullable=False),
)
Index("ix_refunds_payment", refunds.c.payment_id)

# Idempotency-Key: the first response to a POST, replayed for 24 h (per API key).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", String(16), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # sha256 of method, path and body
    Column("state", String(12), nullable=False),  # in_flight | done
    Column("status", Integer),
    Column("content_type", String(100)),
    Column("body", Text),
    Column("created_at", UTCTimestamp, nullable=False),
    Column("expires_at", UTCTimestamp, nullable=False),
)
Index("ix_idempotency_expires", idempotency_keys.c.expires_at)

# Inbound webhook message ids already processed (replay protection), kept past the timestamp tolerance.
inbound_webhooks = Table(
    "inbound_webhooks",
    metadata,
    Column("message_id", String(255), primary_key=True),
    Column("received_at", UTCTimestamp, nullable=False),
)

# Outbound webhook endpoints, one row per configured `name` (synced from the config by the watcher).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("url", Text, nullable=False),  # as configured; a change re-enables a disabled endpoint
    Column("created_at", UTCTimestamp, nullable=False),
    Column("updated_at", UTCTimestamp, nullable=False),
    Column("disabled_at", UTCTimestamp),  # the receiver answered 410 Gone; enabled again by hand
    Column("disabled_reason", Text),
    Column("removed_at", UTCTimestamp),  # no longer in the configuration
)

# The outbox: one delivery per (event, endpoint), written in the event's own transaction.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, ForeignKey("events.id"), nullable=False),
    Column("endpoint_id", BigInteger, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes (UTF-8) that are signed and sent
    Column("status", String(12), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),  # all attempts ever started
    Column("step", Integer, nullable=False, server_default="0"),  # attempts since (re)scheduled
    Column("next_attempt_at", UTCTimestamp),  # NULL once delivered or failed
    Column("give_up_at", UTCTimestamp, nullable=False),  # no retry is scheduled after this
    Column("lease_token", String(32)),  # who holds the claim (an attempt in flight)
    Column("leased_until", UTCTimestamp),
    Column("last_attempt_at", UTCTimestamp),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", UTCTimestamp),
    Column("created_at", UTCTimestamp, nullable=False),
    Column("updated_at", UTCTimestamp, nullable=False),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
)
Index(
    "uq_webhook_deliveries_event_endpoint",
    webhook_deliveries.c.event_id,
    webhook_deliveries.c.endpoint_id,
    unique=True,
)
# Claims: the due deliveries of one endpoint, oldest due first.
Index(
    "ix_webhook_deliveries_claim",
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.status,
    webhook_deliveries.c.next_attempt_at,
)
Index("ix_webhook_deliveries_status", webhook_deliveries.c.status, webhook_deliveries.c.id)

# Every attempt, for the API and the operator: when, how long, what came back.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("delivery_id", BigInteger, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempted_at", UTCTimestamp, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer),  # NULL: no HTTP answer (network error, timeout)
    Column("error", Text),
    Column("outcome", String(12), nullable=False),  # delivered | retry | failed
)
Index("ix_webhook_attempts_delivery", webhook_attempts.c.delivery_id, webhook_attempts.c.id)
