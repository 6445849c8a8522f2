"""Hostile log lines for every ingest format: each line is one event or one dead letter, never an
exception; what ingest sends the worker accepts; huge lines cost bounded memory and linear time;
dead letters hide the credentials a line carries."""

from __future__ import annotations

import io
import time

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pipeline.errors import EventTooLargeError, InvalidEventError
from pipeline.ingest.formats import formats, parser_for
from pipeline.ingest.lines import Line, events_of, read_lines
from pipeline.ingest.run import ingest
from pipeline.wire import MAX_EVENT_BYTES, dead_letter, decode_requests, unpack
from schemas.deadletter import DeadLetter
from schemas.request import RequestEvent
from schemas.settings import Settings
from tests.pipeline.hostile.strategies import (
    JSON_TEXT,
    RAW_JSON,
    SECRETS,
    TEXT,
    event_json,
    hostile,
    obj,
    repeated,
    spliced,
)

SETTINGS = Settings()
COMBINED = '{addr} - {user} [{time}] "{request}" {status} {bytes} "{referer}" "{ua}"'
JIRA = '{addr} {rid} {user} [{time}] "{request}" {status} {bytes} {ms} "{referer}" "{ua}" "{sid}"'
FIELDS = {
    "addr": "10.0.0.1",
    "rid": "1020x1234567x2",
    "user": "alice",
    "time": "14/May/2024:09:00:00 +0000",
    "request": "GET /rest/api/2/myself?expand=groups HTTP/1.1",
    "status": "200",
    "bytes": "512",
    "ms": "25",
    "referer": "-",
    "ua": "curl/8.4.0",
    "sid": "1vbw5p2",
}
ODD_FIELDS = st.sampled_from(
    [
        "99/Foo/2024:09:00:00 +0000",
        "14/May/2024:09:00:00 +9999",
        "31/Feb/2024:25:61:61 +0000",
        "14/May/0000:00:00:00 -2359",
        "9999",
        "9" * 5000,
        "-",
        "",
        "::1",
        "[::1]",
        "GET",
        "GET /",
        'G\\"ET / HTTP/1.1',
        "\\x16\\x03\\x01",
        "GET /a?os_password=x&b HTTP/9.9",
        "get //../..//? HTTP/1.1",
    ]
)
# nginx's JSON log_format, keyed by nginx variable names (or RequestEvent names).
NGINX_KEYS = st.sampled_from(
    [
        "time_iso8601",
        "time_local",
        "remote_addr",
        "request_method",
        "uri",
        "args",
        "request_uri",
        "status",
        "body_bytes_sent",
        "request_time",
        "http_user_agent",
        "remote_user",
        "http_authorization",
        "http_cookie",
        "http_x_api_key",
        "http_x_forwarded_for",
        "headers",
        "event_id",
        "method",
    ]
)
NGINX_JSON = {
    "time_iso8601": '"2024-05-14T09:00:00+00:00"',
    "remote_addr": '"10.0.0.1"',
    "request_method": '"GET"',
    "uri": '"/rest/api/2/myself"',
    "status": '"200"',
}


@st.composite
def access_line(draw: st.DrawFn, template: str) -> str:
    """An access-log line of `template` with some fields hostile."""
    fields = dict(FIELDS)
    for _ in range(draw(st.integers(0, 3))):
        fields[draw(st.sampled_from(sorted(fields)))] = draw(TEXT | ODD_FIELDS)
    return template.format(**fields)


@st.composite
def nginx_json_line(draw: st.DrawFn) -> str:
    fields = dict(NGINX_JSON)
    for _ in range(draw(st.integers(0, 4))):
        fields[draw(NGINX_KEYS)] = draw(JSON_TEXT)
    return obj(fields)


def utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


ANY_LINE = st.one_of(
    st.binary(max_size=512), RAW_JSON.map(utf8), repeated(st.just(" [x")).map(utf8)
)
LINES = {
    "json": st.one_of(event_json(), event_json().flatmap(spliced), ANY_LINE),
    "nginx": st.one_of(
        access_line(COMBINED).map(utf8),
        access_line(COMBINED).map(utf8).flatmap(spliced),
        nginx_json_line().map(utf8),
        ANY_LINE,
    ),
    "jira": st.one_of(
        access_line(JIRA).map(utf8), access_line(JIRA).map(utf8).flatmap(spliced), ANY_LINE
    ),
}
# Regressions: inputs that broke a parser, by format.
NESTED_METHOD = obj({**NGINX_JSON, "method": "[" * 1000 + "]" * 1000})
REGRESSIONS: dict[str, list[bytes]] = {
    # content_id took str() of a 1000-deep list and raised RecursionError out of `ingest`.
    "json": [utf8(obj({"timestamp": '"2024-05-14T09:00:00Z"', "method": "[" * 1000 + "]" * 1000}))],
    "nginx": [
        utf8(NESTED_METHOD),
        # A 4000-digit body_bytes_sent: content_id's orjson.dumps raised TypeError.
        utf8(obj({**NGINX_JSON, "body_bytes_sent": '"' + "9" * 4000 + '"'})),
        # The combined-format regex took quadratic time: minutes for one 256 KB line.
        utf8("a b" + " [x" * (MAX_EVENT_BYTES // 3 - 1)),
    ],
    "jira": [utf8("a b c" + " [x" * (MAX_EVENT_BYTES // 3 - 2))],
}


def assert_one_result(fmt: str, raw: bytes) -> RequestEvent | InvalidEventError:
    """The line is exactly one event or one error; an event survives the trip to the worker,
    an error makes a bounded dead letter."""
    [(line, parsed)] = list(events_of([Line(7, raw)], parser_for(fmt), "access.log"))
    assert line.raw == raw
    if isinstance(parsed, InvalidEventError):
        letter = dead_letter(parsed, raw, "access.log", line=7)
        assert 0 < len(letter.reason) <= 2048
        assert len(letter.excerpt) <= 512
        assert letter.excerpt.isprintable()
        return parsed
    assert isinstance(parsed, RequestEvent)
    sent = parsed.model_dump_json(exclude_none=True).encode()  # what ingest packs
    [(_, received)] = decode_requests(sent)
    assert isinstance(received, RequestEvent), getattr(received, "reason", "")
    assert received.event_id == parsed.event_id
    return parsed


@pytest.mark.parametrize("fmt", formats())
class TestLineParsers:
    def test_every_format_is_covered(self, fmt: str) -> None:
        """Each registered format has hostile lines of its own here."""
        assert fmt in LINES

    @hostile(150)
    @given(data=st.data())
    def test_a_line_is_one_event_or_one_error(self, fmt: str, data: st.DataObject) -> None:
        """Any line, of this format or not, is one event or one dead letter; nothing raises."""
        assert_one_result(fmt, data.draw(LINES.get(fmt, ANY_LINE) | LINES["json"], label="line"))

    def test_regressions(self, fmt: str) -> None:
        """Lines that once raised or hung a parser are dead letters, each parsed in a bounded
        time (the bound is generous: the quadratic regex took minutes, the fix milliseconds)."""
        for raw in REGRESSIONS.get(fmt, []):
            start = time.perf_counter()
            assert_one_result(fmt, raw)
            assert time.perf_counter() - start < 5.0


class TestReadLines:
    @hostile(100)
    @given(st.lists(st.binary(max_size=64) | st.sampled_from([b"\r\n", b"\r", b"\x00", b"\n"])))
    def test_lines_are_numbered_and_split_on_newlines(self, parts: list[bytes]) -> None:
        """Any bytes: non-blank lines numbered by position, without their line ends."""
        data = b"".join(parts)
        lines = list(read_lines(io.BytesIO(data)))
        expected = [
            (n, raw.rstrip(b"\r\n"))
            for n, raw in enumerate(io.BytesIO(data), 1)
            if raw.rstrip(b"\r\n").strip()
        ]
        assert [(line.number, line.raw) for line in lines] == expected

    @hostile(10)
    @given(st.integers(MAX_EVENT_BYTES - 2, MAX_EVENT_BYTES + 2), st.integers(0, 3_000_000))
    @example(MAX_EVENT_BYTES + 1, 8 * 1024 * 1024)  # a file with no newline at all
    def test_a_huge_line_is_cut_not_held(self, first: int, rest: int) -> None:
        """A line over the bound is yielded cut just past it, with its real size, and refused;
        the next line is still read."""
        data = b"x" * (first + rest) + b"\nafter\n"
        lines = list(read_lines(io.BytesIO(data)))
        assert [line.number for line in lines] == [1, 2]
        assert len(lines[0].raw) <= MAX_EVENT_BYTES + 1
        assert lines[1].raw == b"after"
        [(_, parsed)] = list(events_of(lines[:1], parser_for("json"), "f"))
        if first + rest > MAX_EVENT_BYTES:
            assert isinstance(parsed, EventTooLargeError)
            assert parsed.size == first + rest


class ListSink:
    """A RecordSink that keeps what ingest sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None]] = []

    def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        self.sent.append((topic, value))

    def flush(self, timeout_s: float = 60.0) -> None:
        return None


@st.composite
def secret_lines(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """A broken line of some format that carries a known credential."""
    secret = draw(SECRETS)
    query = draw(
        st.sampled_from(["os_username=a&os_password=", "access_token=", "api_key=", "jwt="])
    )
    request = f"GET /rest/api/2/search?jql=x&{query}{secret} HTTP/1.1"
    lines = [
        ("nginx", COMBINED.format(**{**FIELDS, "request": request, "status": "2xx"})),
        ("jira", JIRA.format(**{**FIELDS, "request": request, "time": "yesterday"})),
        (
            "nginx",
            obj({**NGINX_JSON, "http_authorization": f'"Bearer {secret}"', "status": '"x"'}),
        ),
        ("nginx", obj({**NGINX_JSON, "http_cookie": f'"JSESSIONID={secret}"', "status": "{}"})),
        ("json", orjson.dumps({"headers": {"x-api-key": secret}, "status": 1}).decode()),
    ]
    fmt, line = draw(st.sampled_from(lines))
    return fmt, utf8(line), secret


class TestIngest:
    @hostile(60)
    @given(st.sampled_from(formats()), st.data())
    def test_every_line_is_sent_or_dead_lettered(self, fmt: str, data: st.DataObject) -> None:
        """`ingest` counts every line once, as an event in a pack or a dead letter."""
        raws = data.draw(st.lists(LINES[fmt], max_size=12), label="lines")
        lines = [Line(n, raw) for n, raw in enumerate(raws, 1) if raw.strip()]
        sink = ListSink()
        summary = ingest(lines, sink, SETTINGS, fmt=fmt, source="access.log")
        requests = [v for t, v in sink.sent if t == SETTINGS.topics.requests]
        letters = [v for t, v in sink.sent if t == SETTINGS.topics.deadletter]
        assert summary.lines == len(lines) == summary.events + summary.dead
        assert sum(len(unpack(v or b"")) for v in requests) == summary.events
        assert sorted(DeadLetter.model_validate_json(v or b"").line or 0 for v in letters) == [
            line.number for line in lines if line.number not in _event_lines(lines, fmt)
        ]

    @hostile(100)
    @given(secret_lines())
    def test_no_credential_in_a_dead_letter(self, case: tuple[str, bytes, str]) -> None:
        """A broken line with a password, token, key or cookie in it is dead-lettered without
        it."""
        fmt, raw, secret = case
        sink = ListSink()
        summary = ingest([Line(1, raw)], sink, SETTINGS, fmt=fmt, source="access.log")
        assert summary.dead == 1
        for _, value in sink.sent:
            assert secret.encode() not in (value or b"")


def _event_lines(lines: list[Line], fmt: str) -> set[int]:
    parse = parser_for(fmt)
    return {
        line.number
        for line, parsed in events_of(lines, parse, "access.log")
        if not isinstance(parsed, InvalidEventError)
    }
