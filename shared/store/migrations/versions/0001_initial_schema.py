"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_payment", ["payment_id"], unique=False)
        batch_op.create_index("ix_events_type_id", ["type", "id"], unique=False)

    op.create_table(
        "payments",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("buyer_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("asset_code", sa.String(length=12), nullable=False),
        sa.Column("asset_issuer", sa.String(length=56), nullable=True),
        sa.Column("destination", sa.String(length=56), nullable=False),
        sa.Column("reference", sa.BigInteger(), nullable=False),
        sa.Column("memo_type", sa.String(length=8), nullable=False),
        sa.Column("amount_received", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("amount_late", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("flag_late", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("flag_overpaid", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("flag_manual", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("failure_reason", sa.String(length=16), nullable=True),
        sa.Column("stellar_transaction_id", sa.String(length=64), nullable=True),
        sa.Column("source_account", sa.String(length=69), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_at", sa.BigInteger(), nullable=True),
        sa.Column("failed_at", sa.BigInteger(), nullable=True),
        sa.Column("refunded_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'failed', 'timeout', 'refunded')",
            name=op.f("ck_payments_status_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_payments")),
        sa.UniqueConstraint("id", name=op.f("uq_payments_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_payments_reference")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_buyer", ["buyer_id"], unique=False)
        batch_op.create_index("ix_payments_order_created", ["order_id", "created_at"], unique=False)
        batch_op.create_index("ix_payments_status_expires", ["status", "expires_at"], unique=False)
        batch_op.create_index(
            "uq_payments_pending_order",
            ["order_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.create_table(
        "poison_records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("stream", sa.String(length=80), nullable=False),
        sa.Column("paging_token", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poison_records")),
    )
    with op.batch_alter_table("poison_records", schema=None) as batch_op:
        batch_op.create_index("uq_poison_stream_token", ["stream", "paging_token"], unique=True)

    op.create_table(
        "streams",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("cursor", sa.String(length=32), nullable=False),
        sa.Column("last_ledger", sa.BigInteger(), nullable=True),
        sa.Column("last_closed_at", sa.BigInteger(), nullable=True),
        sa.Column("processed_through", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("connected", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("last_event_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("status_updated_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_streams")),
    )
    op.create_table(
        "watcher_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=True),
        sa.Column("network_ledger", sa.BigInteger(), nullable=True),
        sa.Column("network_closed_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watcher_status")),
    )
    op.create_table(
        "receipts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("operation_id", sa.String(length=32), nullable=False),
        sa.Column("part", sa.Integer(), server_default="0", nullable=False),
        sa.Column("operation_type", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("destination", sa.String(length=56), nullable=False),
        sa.Column("source", sa.String(length=69), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("asset_code", sa.String(length=12), nullable=False),
        sa.Column("asset_issuer", sa.String(length=56), nullable=True),
        sa.Column("memo_type", sa.String(length=8), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("muxed_id", sa.String(length=20), nullable=True),
        sa.Column("transaction_hash", sa.String(length=64), nullable=False),
        sa.Column("ledger", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("assigned_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_receipts_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index("ix_receipts_disposition", ["disposition", "id"], unique=False)
        batch_op.create_index("ix_receipts_payment", ["payment_id"], unique=False)
        batch_op.create_index("uq_receipts_operation", ["operation_id", "part"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index("uq_receipts_operation")
        batch_op.drop_index("ix_receipts_payment")
        batch_op.drop_index("ix_receipts_disposition")

    op.drop_table("receipts")
    op.drop_table("watcher_status")
    op.drop_table("streams")
    with op.batch_alter_table("poison_records", schema=None) as batch_op:
        batch_op.drop_index("uq_poison_stream_token")

    op.drop_table("poison_records")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_payments_pending_order",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index("ix_payments_status_expires")
        batch_op.drop_index("ix_payments_order_created")
        batch_op.drop_index("ix_payments_buyer")

    op.drop_table("payments")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_type_id")
        batch_op.drop_index("ix_events_payment")

    op.drop_table("events")
    op.drop_table("api_keys")
