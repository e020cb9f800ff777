"""Paging parameters exactly as Horizon validates them (actions/helpers.go, db2/page_query.go)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .history import SortKey
from .problems import bad_request, before_history
from .toid import after_ledger, toid

DEFAULT_LIMIT = 10
MAX_LIMIT = 200
INT64_MAX = 2**63 - 1

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@dataclass(frozen=True)
class PageParams:
    cursor_text: str  # echoed in the page links (a resolved `now` is a number)
    cursor: SortKey | None
    order: str
    limit: int
    include_failed: bool
    join_transactions: bool

    @property
    def descending(self) -> bool:
        return self.order == "desc"


def parse_page(
    request: web.Request, latest_ledger: int, elder_ledger: int, pair_cursor: bool = False
) -> PageParams:
    """Raises a `bad_request` problem for a bad cursor/order/limit/include_failed/join."""
    query = request.query
    cursor_text = query.get("cursor", "")
    if cursor_text == "now":
        cursor_text = str(after_ledger(latest_ledger))
    last_event_id = request.headers.get("Last-Event-ID", "")
    if last_event_id:
        cursor_text = last_event_id
    if _is_int(cursor_text) and int(cursor_text) < 0:
        raise bad_request("cursor", f"the cursor {int(cursor_text)} is a negative number: ")

    order = query.get("order", "")
    if order == "":
        order = "asc"
    elif order not in ("asc", "desc"):
        raise bad_request("order", "order: invalid value")

    limit = DEFAULT_LIMIT
    limit_text = query.get("limit", "")
    if limit_text != "":
        if not _is_int(limit_text):
            raise bad_request("limit", "unparseable value")
        value = int(limit_text)
        if value <= 0:
            raise bad_request("limit", "invalid limit: non-positive value provided")
        if value > MAX_LIMIT:
            raise bad_request("limit", f"invalid limit: value provided that is over limit max of {MAX_LIMIT}")
        limit = value

    cursor = _parse_cursor(cursor_text, pair_cursor)
    if cursor is not None and order == "desc" and cursor[0] <= toid(elder_ledger):
        raise before_history()

    include_failed = False
    failed_text = query.get("include_failed", "")
    if failed_text in _TRUE:
        include_failed = True
    elif failed_text not in _FALSE and failed_text != "":
        raise bad_request("include_failed", "Invalid boolean value")

    join = query.get("join", "")
    if join not in ("", "transactions"):
        raise bad_request("join", "Accepted values: transactions")
    return PageParams(cursor_text, cursor, order, limit, include_failed, join == "transactions")


def _is_int(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isascii() and body.isdigit()


def _parse_cursor(text: str, pair: bool) -> SortKey | None:
    if text == "":
        return None
    first, sep, second = text.partition("-")
    try:
        if sep:
            if not pair:
                raise ValueError(text)
            left, right = int(first), int(second)
        else:
            left, right = int(first), (INT64_MAX if pair else 0)
    except ValueError:
        raise bad_request("cursor", "cursor: invalid value") from None
    if left < 0 or right < 0 or left > INT64_MAX:
        raise bad_request("cursor", "cursor: invalid value")
    return (left, right)
