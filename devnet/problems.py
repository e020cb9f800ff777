"""Horizon's RFC 7807 problems (`application/problem+json`, pretty-printed like Go's MarshalIndent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from . import gojson

TYPE_PREFIX = "https://stellar.org/horizon-errors/"
PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8"


class Problem(Exception):
    """A Horizon problem; raise it from a handler and the error middleware renders it."""

    def __init__(
        self,
        type: str,
        title: str,
        status: int,
        detail: str = "",
        extras: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"problem: {type}. full details: {detail}")
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.extras = dict(extras) if extras else None
        self.headers = dict(headers) if headers else {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": TYPE_PREFIX + self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.extras:
            body["extras"] = {key: self.extras[key] for key in sorted(self.extras)}  # a Go map
        return body

    def stream_text(self) -> str:
        """What an SSE `event: error` carries for a registered problem (problem.P.Error())."""
        return str(self)

    def response(self) -> web.Response:
        response = web.Response(
            status=self.status,
            body=gojson.indented(self.as_dict()).encode(),
            headers={"Content-Type": PROBLEM_CONTENT_TYPE, **self.headers},
        )
        return response


def not_found() -> Problem:
    return Problem(
        "not_found",
        "Resource Missing",
        404,
        "The resource at the url requested was not found.  This usually occurs for one of two reasons:  The "
        "url requested is not valid, or no data in our database could be found with the parameters provided.",
    )


def bad_request(field: str | None = None, reason: str | None = None, detail: str | None = None) -> Problem:
    extras = {"invalid_field": field, "reason": reason} if field is not None else None
    return Problem(
        "bad_request", "Bad Request", 400, detail or "The request you sent was invalid in some way.", extras
    )


RATE_LIMIT_DETAIL = (
    "The rate limit for the requesting IP address is over its alloted limit.  The allowed limit and requests "
    "left per time period are communicated to clients via the http response headers 'X-RateLimit-*' headers."
)


def rate_limit_exceeded(headers: Mapping[str, str] | None = None) -> Problem:
    return Problem("rate_limit_exceeded", "Rate Limit Exceeded", 429, RATE_LIMIT_DETAIL, headers=headers)


def service_unavailable(headers: Mapping[str, str] | None = None) -> Problem:
    return Problem(
        "service_unavailable",
        "Service Unavailable",
        503,
        "The request cannot be serviced at this time.",
        headers=headers,
    )


def server_error() -> Problem:
    return Problem(
        "server_error",
        "Internal Server Error",
        500,
        "An error occurred while processing this request.  This is usually due to a bug within the server "
        "software.  Trying this request again may succeed if the bug is transient. Otherwise, please contact "
        "the system administrator.",
    )


def before_history() -> Problem:
    return Problem(
        "before_history",
        "Data Requested Is Before Recorded History",
        410,
        "This horizon instance is configured to only track a portion of the stellar network's latest "
        "history. This request is asking for results prior to the recorded history known to this horizon "
        "instance.",
    )


def unsupported_media_type() -> Problem:
    return Problem(
        "unsupported_media_type",
        "Unsupported Media Type",
        415,
        "The request has an unsupported content type. Presently, the only supported content type is "
        "application/x-www-form-urlencoded.",
    )


def transaction_failed(envelope_xdr: str, result_xdr: str, result_codes: Mapping[str, Any]) -> Problem:
    return Problem(
        "transaction_failed",
        "Transaction Failed",
        400,
        "The transaction failed when submitted to the stellar network. The `extras.result_codes` field on "
        "this response contains further details.  Descriptions of each code can be found at: "
        "https://developers.stellar.org/api/errors/http-status-codes/horizon-specific/transaction-failed/",
        {"envelope_xdr": envelope_xdr, "result_xdr": result_xdr, "result_codes": dict(result_codes)},
    )


def transaction_malformed(envelope_xdr: str) -> Problem:
    return Problem(
        "transaction_malformed",
        "Transaction Malformed",
        400,
        "Horizon could not decode the transaction envelope in this request. A transaction should be an "
        "XDR TransactionEnvelope struct encoded using base64.  The envelope read from this request is "
        "echoed in the `extras.envelope_xdr` field of this response for your convenience.",
        {"envelope_xdr": envelope_xdr},
    )


def submission_timeout(tx_hash: str, envelope_xdr: str) -> Problem:
    return Problem(
        "transaction_submission_timeout",
        "Transaction Submission Timeout",
        504,
        "Your transaction submission request has timed out. This does not necessarily mean the submission "
        "has failed. Before resubmitting, please use the transaction hash provided in `extras.hash` to poll "
        "the GET /transactions endpoint for sometime and check if it was included in a ledger.",
        {"hash": tx_hash, "envelope_xdr": envelope_xdr},
    )
