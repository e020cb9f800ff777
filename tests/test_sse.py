"""The SSE parser against Horizon's exact framing, however the bytes are split."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.stellar.sse import MAX_LINE_BYTES, SSEError, SSEEvent, SSEParser
from tests.conftest import fixtures_dir


def parse_all(data: bytes, cuts: list[int] | None = None) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    positions = sorted({0, len(data), *(cuts or [])})
    for start, end in itertools.pairwise(positions):
        events += parser.feed(data[start:end])
    return events


def test_hello_then_byebye_fixture() -> None:
    data = (
        fixtures_dir() / "sse/stream_body_open_then_close_byebye__horizon-stream_handler_test.txt"
    ).read_bytes()
    assert parse_all(data) == [
        SSEEvent("open", '"hello"', None, 1000),
        SSEEvent("close", '"byebye"', None, 10),
    ]


def test_error_event_fixtures_carry_plain_text() -> None:
    for name, text in [
        ("error_event_problem_not_found__horizon-render-sse-tests.txt", "problem: not_found"),
        ("error_event_problem_timeout__horizon-render-sse-tests.txt", "problem: timeout"),
        ("error_event_unexpected_stream_error__horizon-render-sse-tests.txt", "Unexpected stream error"),
    ]:
        assert parse_all((fixtures_dir() / "sse" / name).read_bytes()) == [SSEEvent("error", text, None)]


def test_record_with_id_line() -> None:
    line = (
        fixtures_dir() / "sse/payments_stream_data_line_create_account_testnet__go-horizonclient.txt"
    ).read_bytes()
    data = b"id: 4934917427201\n" + line.rstrip(b"\n") + b"\n\n"
    (event,) = parse_all(data)
    assert event.id == "4934917427201"
    assert event.event == "message"
    assert event.data.startswith('{"_links"')


STREAM = (
    b'retry: 1000\nevent: open\ndata: "hello"\n\n'
    b'id: 12884905985\ndata: {"id":"12884905985"}\n\n'
    b": a comment\n"
    b'id: 12884905986\ndata: {"id":"12884905986",\ndata: "x":1}\n\n'
    b'retry: 10\nevent: close\ndata: "byebye"\n\n'
)
EXPECTED = [
    SSEEvent("open", '"hello"', None, 1000),
    SSEEvent("message", '{"id":"12884905985"}', "12884905985"),
    SSEEvent("message", '{"id":"12884905986",\n"x":1}', "12884905986"),
    SSEEvent("close", '"byebye"', None, 10),
]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    assert parse_all(STREAM, cuts) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_crlf_and_cr_line_endings(cuts: list[int]) -> None:
    assert parse_all(STREAM.replace(b"\n", b"\r\n"), cuts) == EXPECTED
    assert parse_all(STREAM.replace(b"\n", b"\r"), cuts) == EXPECTED


def test_an_event_without_data_is_not_dispatched() -> None:
    assert parse_all(b"id: 5\n\nevent: close\n\n") == []


def test_endless_line_is_an_error() -> None:
    parser = SSEParser()
    for _ in range(MAX_LINE_BYTES // 65536):
        assert list(parser.feed(b"x" * 65536)) == []
    with pytest.raises(SSEError):
        list(parser.feed(b"x" * 65536))


@given(st.binary(max_size=2000))
def test_garbage_never_crashes(data: bytes) -> None:
    for event in parse_all(data):
        assert isinstance(event.data, str)
