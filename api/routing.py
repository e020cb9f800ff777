"""A route table with the metadata that drives auth, request validation and the OpenAPI document.

Handlers are declared once with their scope and models; the wrapper authenticates, enforces the
content type, parses and validates the body and query with the SAME pydantic models that
`openapi.py` publishes, and hands the handler typed values.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from api.auth import authenticate
from api.idempotency import HEADER, idempotent
from api.models import CONTROL_CHARACTERS, ProblemOut
from api.problems import Problem, not_found, validation_problem

Handler = Callable[..., Awaitable[web.StreamResponse]]
JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Media:
    """A response that is not JSON (an HTML page, a stylesheet, an image): its content types."""

    content_types: tuple[str, ...]
    description: str = ""


HTML = Media(("text/html",))
Response = type[BaseModel] | Media | None


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    scope: str | None  # None: public
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, Response] = field(default_factory=dict)
    tag: str = "payments"
    auth: str = "bearer"  # "bearer", "none", or "webhook" (signed inbound webhook)
    authenticator: Callable[[web.Request], Awaitable[None]] | None = None


class RouteTable:
    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        scope: str | None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        responses: dict[int, Response] | None = None,
        tag: str = "payments",
        auth: str | None = None,
        authenticator: Callable[[web.Request], Awaitable[None]] | None = None,
    ) -> Callable[[Handler], Handler]:
        kind = auth or ("bearer" if scope else "none")
        documented = {**_problems_of(method, path, body, query, kind), **(responses or {})}

        def register(handler: Handler) -> Handler:
            self.specs.append(
                RouteSpec(
                    method,
                    path,
                    handler,
                    summary,
                    scope,
                    body,
                    query,
                    documented,
                    tag,
                    kind,
                    authenticator,
                )
            )
            return handler

        return register

    def install(self, app: web.Application) -> None:
        for spec in self.specs:
            app.router.add_route(spec.method, spec.path, _wrap(spec))


def _problems_of(
    method: str, path: str, body: type[BaseModel] | None, query: type[BaseModel] | None, auth: str
) -> dict[int, type[BaseModel] | None]:
    """The problems the wrapper itself may answer for a route, so that its document lists them all."""
    statuses: set[int] = set()
    if body is not None:
        statuses |= {400, 413, 415, 422}  # malformed JSON, too large, content type, validation
    if query is not None:
        statuses.add(422)
    if "{" in path:
        statuses.add(404)  # a path value that cannot name anything
    if auth == "bearer":
        statuses |= {401, 403}
        if method == "POST":
            statuses |= {400, 409, 422}  # Idempotency-Key: malformed, in flight, reused
    elif auth == "webhook":
        statuses |= {401, 404, 409}  # bad or stale signature, no inbound secret, replayed message
    return dict.fromkeys(sorted(statuses), ProblemOut)


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append({"field": location, "message": message})
    return errors


async def parse_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    content_type = request.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != JSON_CONTENT_TYPE:
        raise Problem(415, "send the body as application/json", type_="urn:paywatch:problem:content-type")
    raw = await request.read()  # aiohttp enforces client_max_size (413) here
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Problem(
            400, "the body is not valid JSON", type_="urn:paywatch:problem:malformed-json"
        ) from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_problem(_errors(exc)) from None


def parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_problem(_errors(exc), "the query parameters are not valid") from None


def _wrap(spec: RouteSpec) -> Handler:
    # A route whose 404 is a page of its own (the checkout page) checks its path values itself.
    problem_404 = not isinstance(spec.responses.get(404), Media)

    async def run(request: web.Request) -> web.StreamResponse:
        if problem_404 and any(CONTROL_CHARACTERS.search(v) for v in request.match_info.values()):
            # No stored id has control characters (requests that create them are refused), and
            # PostgreSQL cannot even compare a NUL: such a path names nothing.
            raise not_found("resource")
        kwargs: dict[str, Any] = {}
        if spec.query is not None:
            kwargs["query"] = parse_query(request, spec.query)
        if spec.body is not None:
            kwargs["body"] = await parse_body(request, spec.body)
        return await spec.handler(request, **kwargs)

    async def handler(request: web.Request) -> web.StreamResponse:
        if spec.authenticator is not None:
            await spec.authenticator(request)
        if spec.auth == "bearer":
            await authenticate(request, spec.scope)
            if spec.method == "POST" and HEADER in request.headers:
                return await idempotent(request, lambda: run(request))
        return await run(request)

    handler.__name__ = spec.handler.__name__
    return handler
