"""Schemathesis over the served /openapi.json, on both backends, against a real server on 127.0.0.1.

Every operation the document lists is fuzzed with valid (positive) and schema-violating
(negative) requests, each sent with a valid admin key, a key lacking the scope, a wrong key and
none. Whatever the request: no 5xx, the status is documented, the body matches the documented
schema, and every error is an RFC 9457 application/problem+json document. Driven by the document
only, so new routes are fuzzed as soon as they are documented.

Examples per operation and mode: PAYWATCH_FUZZ_EXAMPLES (CI-sized default; the long local run is
`PAYWATCH_FUZZ_EXAMPLES=1000 .venv/bin/pytest tests/test_fuzz_api.py -s`, see docs/security.md).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from shared.signatures import sign_headers
from tests.served import INBOUND_SECRET, ServedApi, served_api

EXAMPLES = int(os.environ.get("PAYWATCH_FUZZ_EXAMPLES", "25"))
PROBLEM = "application/problem+json"
WRONG_KEYS = (
    "pw_aaaaaaaaaaaa_" + "A" * 43,  # well formed, unknown id
    "not-a-key",
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api(db_url: str) -> Iterator[ServedApi]:
    with served_api(db_url) as served:
        yield served


class Tally:
    """What the run did, printed at the end (the long run's numbers come from here)."""

    def __init__(self) -> None:
        self.examples = 0
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.http_refused = 0  # request lines or headers too long for the HTTP server (400 text/plain)

    def report(self) -> str:
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(self.statuses.items()))
        return (
            f"fuzzed {self.examples} examples, {self.requests} requests, "
            f"5xx={len(self.server_errors)}; statuses {statuses} "
            f"(of which {self.http_refused} refused by the HTTP server: request line or header over 8 KiB)"
        )


HTTP_LINE_LIMIT = 8190  # aiohttp's request line and header field limit


def refused_by_http_server(response: requests.Response) -> bool:
    """A request line or header over aiohttp's limit is refused before the application sees it:
    400 text/plain and the connection closed (docs/decisions.md). Only such requests may get it."""
    request = response.request
    too_long = len(request.path_url) > HTTP_LINE_LIMIT or any(
        len(name) + len(value) > HTTP_LINE_LIMIT for name, value in request.headers.items()
    )
    plain = response.headers.get("Content-Type", "").startswith("text/plain")
    return too_long and plain and response.status_code == 400


def problem_documented(operation: Any, status: int) -> bool:
    """Errors are problem documents unless the document says otherwise for that status (the checkout
    page's 404 is an HTML page); schemathesis checks the content type against the document anyway."""
    documented = operation.definition.raw.get("responses", {}).get(str(status), {}).get("content")
    return not documented or PROBLEM in documented


def assert_problem(response: requests.Response, label: str) -> None:
    """An error is a problem document whose `status` is the response's, with no internals in it."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    assert content_type == PROBLEM, f"{label}: {response.status_code} as {content_type!r}"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), f"{label}: {body}"
    assert body["status"] == response.status_code, f"{label}: {body}"
    text = response.text
    for leak in ("Traceback", "sqlalchemy", "SELECT ", "INSERT INTO", "psycopg", "sqlite3"):
        assert leak not in text, f"{label}: the error shows {leak!r}: {text[:300]}"


CREDENTIAL_HEADERS = frozenset({"authorization", "webhook-signature", "webhook-id", "webhook-timestamp"})


def mutates_credentials(case: Any) -> bool:
    data = case.meta.phase.data if case.meta is not None else None
    if data is None:
        return False
    names = [getattr(data, "parameter", None)]
    names += [getattr(m, "parameter", None) for m in getattr(data, "mutations", ()) or ()]
    description = str(getattr(data, "description", "") or "")
    return any(n is not None and n.lower() in CREDENTIAL_HEADERS for n in names) or any(
        h in description.lower() for h in CREDENTIAL_HEADERS
    )


def use_known_values(case: Any, data: st.DataObject, known: dict[str, list[str]]) -> None:
    """Now and then put a value that exists here (a configured currency, a payment's id, a real
    transaction) where the document has a field of that name: random strings alone would almost
    never get past "unknown currency" or "payment not found" to the code behind them."""
    for container in (case.body, case.path_parameters, case.query):
        if not isinstance(container, dict):
            continue
        for name in list(container):
            if known.get(name) and data.draw(st.booleans()):
                container[name] = data.draw(st.sampled_from(known[name]))


def send(
    session: requests.Session, kwargs: dict[str, Any], authorization: str | None, sign: bool
) -> requests.Response:
    kwargs = {**kwargs, "headers": dict(kwargs.get("headers") or {})}
    headers = kwargs["headers"]
    for name in list(headers):
        if name.lower() in ("authorization", "webhook-id", "webhook-timestamp", "webhook-signature"):
            del headers[name]
    if authorization is not None:
        headers["Authorization"] = authorization
    if sign:
        # The inbound webhook: sign exactly the bytes that are sent.
        if "json" in kwargs:
            kwargs["data"] = json.dumps(kwargs.pop("json")).encode()
        body = kwargs.get("data") or b""
        if isinstance(body, str):
            body = body.encode()
            kwargs["data"] = body
        message_id = f"msg_{time.monotonic_ns()}"
        headers.update(sign_headers([INBOUND_SECRET], message_id, int(time.time()), body))
    return session.request(**kwargs, timeout=30, allow_redirects=False)


def fuzz_operation(
    api: ServedApi, operation: Any, mode: GenerationMode, session: requests.Session, tally: Tally
) -> None:
    security = {param.name.lower() for param in operation.security.iter_parameters()}
    bearer = "authorization" in security
    webhook = "webhook-signature" in security
    scope_ok_for_reader = operation.method.upper() == "GET" and operation.path.startswith(
        ("/payments", "/receipts")
    )
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=os.environ.get("PAYWATCH_FUZZ_RANDOM") != "1",
    )
    def run(case: Any, data: st.DataObject) -> None:
        tally.examples += 1
        if mode is GenerationMode.POSITIVE:
            use_known_values(case, data, api.known)
        kwargs = case.as_transport_kwargs(base_url=api.base_url)
        variants: list[tuple[str, str | None, bool]] = [("admin", f"Bearer {api.admin_key}", webhook)]
        if bearer:
            variants += [("reader", f"Bearer {api.read_key}", False), ("no key", None, False)]
            variants += [(f"wrong key {i}", f"Bearer {key}", False) for i, key in enumerate(WRONG_KEYS)]
        elif webhook:
            variants += [("unsigned", None, False)]
        for variant, authorization, sign in variants:
            label = f"{operation.label} [{mode.value}, {variant}]"
            response = send(session, kwargs, authorization, sign)
            tally.requests += 1
            tally.statuses[response.status_code] += 1
            if response.status_code >= 500:
                tally.server_errors.append(f"{label}: {response.status_code} {response.text[:300]}")
            if refused_by_http_server(response):
                tally.http_refused += 1
                continue
            if response.status_code >= 400 and problem_documented(operation, response.status_code):
                assert_problem(response, label)
            if variant in ("no key", "unsigned") or variant.startswith("wrong key"):
                assert response.status_code == 401, f"{label}: {response.status_code} {response.text[:200]}"
                continue
            if variant == "reader" and not scope_ok_for_reader:
                assert response.status_code == 403, f"{label}: {response.status_code} {response.text[:200]}"
                continue
            # A negative case whose only invalid part was the credentials is valid once they are set.
            active = checks if variant == "admin" and not mutates_credentials(case) else CHECKS
            case.validate_response(response, checks=active, transport_kwargs=kwargs)

    try:
        run()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (no parameters, no body): positive mode covers it.
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_schemathesis_over_the_served_document(api: ServedApi, capsys: pytest.CaptureFixture[str]) -> None:
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "the served document lists every route"
    tally = Tally()
    with requests.Session() as session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz_operation(api, operation, mode, session, tally)
    with capsys.disabled():  # the numbers are the point of a long run: show them without -s
        print(f"\n{tally.report()}")
    assert not tally.server_errors, "\n".join(tally.server_errors[:10])
    # The run reached the handlers, not only the authentication in front of them.
    assert tally.statuses[200] + tally.statuses[201] > 0, tally.report()
    assert tally.statuses[422] > 0, tally.report()
