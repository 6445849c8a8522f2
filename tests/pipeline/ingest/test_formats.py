"""Gateway log formats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.auth.classify import GATEWAY_SCHEME_HEADER
from pipeline.errors import EventParseError
from pipeline.ingest.formats import clf_time, parser_for
from pipeline.ingest.lines import Line, to_event

COMBINED = (
    '115.14.134.88 - svc-jenkins [14/May/2024:09:00:00 +0000] "GET /rest/agile/1.0/board/76/issue'
    '?jql=project%3DWEB+ORDER+BY+created+DESC HTTP/1.1" 200 67137 "-" "Jira Cloud Migration '
    'Assistant/1.9.15 (Atlassian)"'
)
JIRA = (
    '10.10.10.10 1020x1234567x2 jsmith [12/Mar/2019:17:00:59 +0100] "GET /rest/api/2/issue/ABC-1 '
    'HTTP/1.1" 200 1324 25 "https://jira.example.com/browse/ABC-1" "Mozilla/5.0" "1vbw5p2"'
)


class TestNginxCombined:
    def test_fields(self) -> None:
        """Every combined-format field maps to its RequestEvent field."""
        data = parser_for("nginx")(COMBINED)
        assert data["client_ip"] == "115.14.134.88"
        assert data["method"] == "GET"
        assert data["path"] == "/rest/agile/1.0/board/76/issue"
        assert data["query"] == "jql=project%3DWEB+ORDER+BY+created+DESC"
        assert data["status"] == 200
        assert data["bytes"] == 67137
        assert data["user_agent"] == "Jira Cloud Migration Assistant/1.9.15 (Atlassian)"
        assert data["timestamp"] == datetime(2024, 5, 14, 9, 0, tzinfo=UTC)

    def test_remote_user_means_basic(self) -> None:
        """nginx fills $remote_user only from Basic: reported as a gateway-seen Basic call."""
        data = parser_for("nginx")(COMBINED)
        assert data["username"] == "svc-jenkins"
        assert data["headers"] == {GATEWAY_SCHEME_HEADER: "basic"}

    def test_no_remote_user(self) -> None:
        """'-' means no Basic credentials: no user, no scheme hint."""
        data = parser_for("nginx")(COMBINED.replace("svc-jenkins", "-"))
        assert "username" not in data
        assert "headers" not in data

    @pytest.mark.parametrize(
        "line",
        [
            "garbage",
            '1.2.3.4 - - [14/May/2024:09:00:00 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"',
            '1.2.3.4 - - [99/Foo/2024:09:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        ],
    )
    def test_bad_lines(self, line: str) -> None:
        """Lines that are not combined-format are parse errors with a reason."""
        with pytest.raises(EventParseError):
            parser_for("nginx")(line)


class TestNginxJson:
    def test_nginx_variable_names(self) -> None:
        """A JSON log_format with nginx variable names maps to the contract."""
        line = (
            '{"time_iso8601":"2024-05-14T09:00:00+00:00","remote_addr":"10.1.1.1",'
            '"request_method":"POST","request_uri":"/rest/api/2/issue?x=1","status":"201",'
            '"body_bytes_sent":"12","request_time":"0.125","http_user_agent":"curl/8",'
            '"http_authorization":"Bearer abc","http_cookie":"-","request_id":"r-1"}'
        )
        data = parser_for("nginx")(line)
        assert data["path"] == "/rest/api/2/issue"
        assert data["query"] == "x=1"
        assert data["status"] == 201
        assert data["bytes"] == 12
        assert data["latency_ms"] == pytest.approx(125.0)
        assert data["headers"] == {"authorization": "Bearer abc"}
        assert data["request_id"] == "r-1"

    def test_request_event_names(self) -> None:
        """A JSON log_format may also use the RequestEvent names directly."""
        line = (
            '{"timestamp":"2024-05-14T09:00:00Z","client_ip":"10.1.1.1","method":"GET",'
            '"path":"/x","status":200}'
        )
        assert parser_for("nginx")(line)["path"] == "/x"


class TestJira:
    def test_fields(self) -> None:
        """The Jira access log gives the user, request id and response time."""
        data = parser_for("jira")(JIRA)
        assert data["username"] == "jsmith"
        assert data["request_id"] == "1020x1234567x2"
        assert data["latency_ms"] == 25.0
        assert data["timestamp"] == datetime(2019, 3, 12, 16, 0, 59, tzinfo=UTC)

    def test_anonymous(self) -> None:
        """'-' as user is an anonymous call."""
        assert parser_for("jira")(JIRA.replace(" jsmith ", " - "))["username"] is None


def test_clf_time_offsets() -> None:
    """Local times with offsets become UTC."""
    assert clf_time("14/May/2024:11:00:00 +0200") == datetime(2024, 5, 14, 9, tzinfo=UTC)
    assert clf_time("14/May/2024:04:30:00 -0430") == datetime(2024, 5, 14, 9, tzinfo=UTC)


def test_unknown_format() -> None:
    """An unknown format name is an error listing the known ones."""
    with pytest.raises(EventParseError, match="known: jira, json, nginx"):
        parser_for("apache")


class TestToEvent:
    def test_ids_are_stable_per_source_and_line(self) -> None:
        """The same line of the same source always gets the same id; another line another."""
        parse = parser_for("nginx")
        a = to_event(Line(7, COMBINED.encode()), parse, "access.log")
        b = to_event(Line(7, COMBINED.encode()), parse, "access.log")
        c = to_event(Line(8, COMBINED.encode()), parse, "access.log")
        assert a.event_id == b.event_id != c.event_id

    def test_invalid_utf8_is_tolerated(self) -> None:
        """Invalid UTF-8 in a user agent does not lose the event."""
        raw = COMBINED.encode().replace(b"Atlassian", b"Atl\xffassian")
        event = to_event(Line(1, raw), parser_for("nginx"), "x")
        assert event.user_agent is not None
        assert "\ufffd" in event.user_agent

    def test_contract_violations_are_parse_errors(self) -> None:
        """A parsed line that breaks the contract is an EventParseError, not a crash."""
        with pytest.raises(EventParseError, match="client_ip"):
            to_event(
                Line(1, COMBINED.replace("115.14.134.88", "999.1.1.1").encode()),
                parser_for("nginx"),
                "x",
            )
