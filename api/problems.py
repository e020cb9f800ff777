"""RFC 9457 problem details: every error the API returns, and never a stack trace or SQL."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        title: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers or {}

    def response(self, request_id: str | None = None) -> web.Response:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        if request_id:
            body["request_id"] = request_id
        return web.Response(
            status=self.status,
            text=json.dumps(body, ensure_ascii=False),
            content_type=PROBLEM_CONTENT_TYPE,
            headers=self.headers,
        )


def validation_problem(errors: list[dict[str, str]], detail: str = "the request is not valid") -> Problem:
    return Problem(
        422, detail, type_="urn:paywatch:problem:validation", title="Validation failed", errors=errors
    )


def not_found(what: str) -> Problem:
    return Problem(404, f"{what} not found", type_="urn:paywatch:problem:not-found")


def conflict(detail: str) -> Problem:
    return Problem(409, detail, type_="urn:paywatch:problem:conflict")
