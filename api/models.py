"""Request and response models: they validate requests and generate the OpenAPI document."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from shared.config import WEBHOOK_NAME_PATTERN
from shared.domain.amounts import AmountError, parse_amount
from shared.domain.lifecycle import EventType

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,7})?$"
STROOP_AMOUNT_PATTERN = r"^[0-9]+\.[0-9]{7}$"
# Ids and cursors are signed 64-bit integers in the store: a larger number is refused (422), not sent
# to the database (where it would overflow).
ID_MAX = 2**63 - 1


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


def _rfc3339(value: object) -> object:
    # pydantic alone would also take "0" or "1700000000" as a Unix time; the document says RFC 3339.
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time with a time zone (e.g. 2026-11-26T17:40:02Z)")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def _printable(value: str | None) -> str | None:
    if value is not None and CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    return value


class Request(BaseModel):
    # strict: a JSON number where a string is expected (an amount!) is refused, not coerced.
    model_config = ConfigDict(extra="forbid", strict=True)


class InitiatePayment(Request):
    order_id: str = Field(min_length=1, max_length=200, description="Your order's id")
    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        description='Decimal string, at most 7 decimals, e.g. "25" or "25.5". JSON numbers are refused.',
        examples=["25", "10.5"],
    )
    currency: str = Field(
        min_length=1, max_length=32, description="A configured asset name, e.g. XLM or USDC"
    )
    buyer_id: str | None = Field(default=None, min_length=1, max_length=200)
    timeout_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 30)
    destination: str | None = Field(
        default=None, description="Receiving account G…; default: the configured one"
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Free-form JSON kept with the payment")

    @field_validator("order_id", "buyer_id")
    @classmethod
    def _printable_ids(cls, value: str | None) -> str | None:
        return _printable(value)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        try:
            parse_amount(value)
        except AmountError as exc:
            raise ValueError(str(exc)) from None
        return value


class AssetOut(BaseModel):
    code: str
    issuer: str | None


class FlagsOut(BaseModel):
    late: bool
    overpaid: bool
    manual: bool


class ReceiptOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    operation_id: str
    part: int
    operation_type: str
    transaction_hash: str
    ledger: int | None
    closed_at: str
    from_: str | None = Field(alias="from")
    to: str
    amount: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    asset: AssetOut
    memo_type: str
    memo: str | None
    muxed_id: str | None
    disposition: Literal["accepted", "late", "rejected", "unmatched"]
    reason: str | None
    payment_id: str | None
    recorded_at: str


class PaymentOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    order_id: str
    buyer_id: str | None
    status: Literal["pending", "confirmed", "failed", "timeout", "refunded"]
    amount: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    currency: str
    asset: AssetOut
    amount_received: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    overpaid_amount: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    amount_refunded: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    destination: str
    muxed_destination: str | None
    memo_type: Literal["id", "text"]
    memo: str
    reference: str
    pay_uri: str = Field(description="SEP-7 payment request for wallets and QR codes")
    pay_url: str = Field(description="the hosted checkout page for the buyer ([api] public_url + /pay/{id})")
    flags: FlagsOut
    failure_reason: str | None
    receipts: list[ReceiptOut]
    refunds: list[RefundOut]
    stellar_transaction_id: str | None
    source_account: str | None
    metadata: dict[str, Any] | None
    created_at: str
    updated_at: str
    expires_at: str
    confirmed_at: str | None
    failed_at: str | None


class CheckoutStatus(BaseModel):
    """What the hosted checkout page shows: for the buyer, so nothing about the order or other payers."""

    model_config = ConfigDict(extra="forbid")

    id: str
    state: Literal["awaiting", "underpaid", "paid", "paid_late", "expired", "cancelled", "refunded"]
    payable: bool = Field(description="true while funds are expected (awaiting, underpaid)")
    title: str = Field(description="the state in a few words, for the buyer")
    message: str = Field(description="what it means and what to do, for the buyer")
    amount: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    amount_received: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    amount_remaining: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    asset_code: str
    pay_uri: str = Field(description="SEP-7 request for the amount still missing")
    expires_at: str
    server_time: str = Field(description="the server's clock, for the countdown")


class ReceiptListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # query values arrive as strings

    unmatched: bool = False
    after: int = Field(
        default=0, ge=0, le=ID_MAX, description="Cursor: the last receipt id of the previous page"
    )
    limit: int = Field(default=50, ge=1, le=500)


class ReceiptList(BaseModel):
    receipts: list[ReceiptOut]
    next_cursor: int | None


class FieldError(BaseModel):
    field: str
    message: str


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    request_id: str | None = None


class HealthOut(BaseModel):
    status: str
    detail: str | None = None


class RefundOut(BaseModel):
    operation_id: str
    transaction_hash: str
    to: str
    amount: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    asset: AssetOut
    ledger: int | None
    closed_at: str


PaymentStatus = Literal["pending", "confirmed", "failed", "timeout", "refunded"]


class Query(BaseModel):
    # Query values arrive as strings; unknown parameters are refused like unknown body fields.
    model_config = ConfigDict(extra="forbid")


class PaymentListQuery(Query):
    status: PaymentStatus | None = None
    order_id: str | None = Field(default=None, max_length=200)
    buyer_id: str | None = Field(default=None, max_length=200)
    created_after: Rfc3339 | None = Field(default=None, description="RFC 3339 with a time zone")
    created_before: Rfc3339 | None = Field(default=None, description="RFC 3339 with a time zone")
    cursor: str | None = Field(
        default=None, pattern=r"^[0-9]{1,19}$", description="next_cursor of the previous page"
    )
    limit: int = Field(default=50, ge=1, le=200)

    @field_validator("order_id", "buyer_id")
    @classmethod
    def _printable_ids(cls, value: str | None) -> str | None:
        return _printable(value)  # stored ids have none; PostgreSQL cannot even compare a NUL

    @field_validator("cursor")
    @classmethod
    def _cursor_in_range(cls, value: str | None) -> str | None:
        if value is not None and int(value) > ID_MAX:
            raise ValueError("not a cursor this API gave out")  # 19 digits may exceed int64
        return value


class PaymentList(BaseModel):
    payments: list[PaymentOut]
    next_cursor: str | None


class StatusCounts(BaseModel):
    pending: int
    confirmed: int
    failed: int
    timeout: int
    refunded: int


class AssetTotalOut(BaseModel):
    currency: str
    asset: AssetOut
    count: int
    amount: str = Field(pattern=STROOP_AMOUNT_PATTERN)
    amount_received: str = Field(pattern=STROOP_AMOUNT_PATTERN)


class BuyerStats(BaseModel):
    buyer_id: str
    counts: StatusCounts
    confirmed_totals: list[AssetTotalOut]


class TransactionReference(Request):
    transaction_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex hash of a Stellar transaction")


class AssignReceipt(Request):
    payment_id: str = Field(min_length=1, max_length=40)

    @field_validator("payment_id")
    @classmethod
    def _printable_id(cls, value: str) -> str | None:
        return _printable(value)


class EventQuery(Query):
    after: int = Field(default=0, ge=0, le=ID_MAX, description="return events with an id greater than this")
    limit: int = Field(default=100, ge=1, le=1000)
    type: str | None = Field(default=None, max_length=400, description="comma-separated event types")


class EventOut(BaseModel):
    id: int
    type: str
    created_at: str
    payment_id: str | None
    data: dict[str, Any]


class EventList(BaseModel):
    events: list[EventOut]
    next_after: int


class InboundResult(BaseModel):
    transaction_hash: str
    receipts: list[ReceiptOut]


class WatcherStateOut(BaseModel):
    state: str = Field(description="starting, running, stopped, or 'never started'")
    role: str | None = Field(description="leader (reads Horizon) or standby")
    instance: str | None
    mode: str | None
    pid: int | None
    hostname: str | None
    started_at: str | None
    heartbeat_at: str | None
    heartbeat_age_seconds: float | None
    heartbeat_stale: bool | None = Field(description="true: no heartbeat for 3 intervals (not running)")
    network_ledger: int | None
    network_closed_at: str | None
    queue: int | None = Field(description="records received but not yet committed")
    metrics_url: str | None


class StreamStatusOut(BaseModel):
    key: str
    account: str | None
    cursor: str
    connected: bool
    lag_seconds: float | None = Field(description="behind the network; null while unknown")
    last_ledger: int | None
    last_closed_at: str | None
    last_event_at: str | None
    processed_through: str | None
    last_error: str | None
    last_error_at: str | None
    status_updated_at: str | None


class ErrorNoteOut(BaseModel):
    at: str | None
    source: str | None
    error: str | None


class WatcherInstanceOut(BaseModel):
    instance: str
    role: str
    state: str
    pid: int | None
    hostname: str | None
    heartbeat_age_seconds: float | None


class MonitorStatus(BaseModel):
    watcher: WatcherStateOut
    mode: str | None
    active_streams: int
    lag_seconds: float | None
    last_event_at: str | None
    streams: list[StreamStatusOut]
    pending_payments: int
    payments: dict[str, int]
    outbox_backlog: int | None = Field(description="webhook deliveries waiting; null while unknown")
    last_errors: list[ErrorNoteOut]
    instances: list[WatcherInstanceOut]


# --- outbound webhooks ----------------------------------------------------------------------------

DeliveryStatus = Literal["pending", "delivered", "failed"]


class DeliveryListQuery(Query):
    status: DeliveryStatus | None = None
    event_type: EventType | None = None
    endpoint: str | None = Field(
        default=None, pattern=WEBHOOK_NAME_PATTERN, description="an endpoint's configured name"
    )
    event_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    cursor: str | None = Field(
        default=None, pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page"
    )
    limit: int = Field(default=50, ge=1, le=200)


class AttemptOut(BaseModel):
    attempted_at: str
    status_code: int | None = Field(description="the receiver's HTTP status; null: no answer")
    error: str | None
    duration_ms: int
    outcome: Literal["delivered", "retry", "failed"]


class DeliveryOut(BaseModel):
    id: int
    event_id: int = Field(description="also the `webhook-id` header of every attempt")
    event_type: str
    endpoint: str
    status: DeliveryStatus
    in_flight: bool
    attempts: int
    next_attempt_at: str | None
    give_up_at: str
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str
    attempt_log: list[AttemptOut]


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any] = Field(description="the body that is signed and sent (minified JSON)")


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None


class EndpointOut(BaseModel):
    name: str
    url: str = Field(description="scheme, host and path (credentials and query left out)")
    status: Literal["active", "disabled", "removed"]
    disabled_at: str | None
    disabled_reason: str | None
    backlog: int = Field(description="deliveries pending for this endpoint")


class EndpointList(BaseModel):
    endpoints: list[EndpointOut]


PaymentOut.model_rebuild()
