"""RequestEvent: the gateway contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.request import MAX_HEADERS, RequestEvent

BASE: dict[str, Any] = {
    "timestamp": "2024-05-14T09:00:00Z",
    "method": "get",
    "path": "/rest/api/2/myself",
    "status": 200,
    "client_ip": "10.0.0.1",
}


class TestFields:
    def test_required_fields_only(self) -> None:
        """The five required fields make a valid event; the method is upper-cased."""
        event = RequestEvent.model_validate(BASE)
        assert event.method == "GET"
        assert event.timestamp == datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
        assert event.headers == {}

    @pytest.mark.parametrize("missing", ["timestamp", "method", "path", "status", "client_ip"])
    def test_each_required_field_is_required(self, missing: str) -> None:
        """Leaving out any required field is a validation error naming it."""
        data = {k: v for k, v in BASE.items() if k != missing}
        with pytest.raises(ValidationError, match=missing):
            RequestEvent.model_validate(data)

    def test_header_names_are_case_insensitive(self) -> None:
        """Header names are lower-cased; list values are joined (cookies with '; ')."""
        event = RequestEvent.model_validate(
            {**BASE, "headers": {"Authorization": "Basic x", "Cookie": ["a=1", "b=2"]}}
        )
        assert event.headers == {"authorization": "Basic x", "cookie": "a=1; b=2"}

    def test_repeated_header_names_are_joined(self) -> None:
        """Two spellings of one header become one value, not a lost one."""
        event = RequestEvent.model_validate(
            {**BASE, "headers": {"X-Forwarded-For": "1.1.1.1", "x-forwarded-for": "2.2.2.2"}}
        )
        assert event.headers["x-forwarded-for"] == "1.1.1.1, 2.2.2.2"

    def test_query_question_mark_is_dropped(self) -> None:
        """`?a=1` and `a=1` are the same query; an empty one is None."""
        assert RequestEvent.model_validate({**BASE, "query": "?a=1"}).query == "a=1"
        assert RequestEvent.model_validate({**BASE, "query": ""}).query is None

    def test_ipv6_is_normalised(self) -> None:
        """Addresses are stored in canonical form, with or without brackets."""
        event = RequestEvent.model_validate({**BASE, "client_ip": "[2001:DB8:0::1]"})
        assert event.client_ip == "2001:db8::1"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("client_ip", "not-an-ip"),
            ("timestamp", "2024-05-14T09:00:00"),  # RFC 3339 needs an offset
            ("status", 1000),
            ("method", "GET /x"),
            ("path", ""),
            ("headers", {"a": 1}),
        ],
    )
    def test_bad_values_are_refused(self, field: str, value: object) -> None:
        """Values outside the contract are validation errors."""
        with pytest.raises(ValidationError):
            RequestEvent.model_validate({**BASE, field: value})

    def test_header_count_is_bounded(self) -> None:
        """More than MAX_HEADERS headers is refused (resource bound)."""
        headers = {f"x-h{i}": "v" for i in range(MAX_HEADERS + 1)}
        with pytest.raises(ValidationError, match="headers"):
            RequestEvent.model_validate({**BASE, "headers": headers})


class TestEventId:
    def test_given_id_is_kept(self) -> None:
        """A gateway's own event_id is used as is."""
        assert RequestEvent.model_validate({**BASE, "event_id": "gw-1"}).event_id == "gw-1"

    def test_derived_id_is_stable(self) -> None:
        """The same content gives the same id, so a replay overwrites instead of duplicating."""
        a = RequestEvent.model_validate(BASE)
        b = RequestEvent.model_validate(dict(BASE))
        assert a.event_id == b.event_id
        assert len(a.event_id) == 32

    def test_derived_id_ignores_header_values(self) -> None:
        """Header values (which may be passwords) never feed the id: no hash of a secret."""
        a = RequestEvent.model_validate({**BASE, "headers": {"authorization": "Basic aaaa"}})
        b = RequestEvent.model_validate({**BASE, "headers": {"authorization": "Basic bbbb"}})
        assert a.event_id == b.event_id

    def test_derived_id_changes_with_content(self) -> None:
        """A different call gets a different id."""
        a = RequestEvent.model_validate(BASE)
        b = RequestEvent.model_validate({**BASE, "path": "/rest/api/2/search"})
        assert a.event_id != b.event_id


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_events = st.fixed_dictionaries(
    {
        "timestamp": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ),
        "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
        "path": _text.map(lambda s: "/" + s),
        "status": st.integers(0, 999),
        "client_ip": st.ip_addresses().map(str),
    },
    optional={
        "request_id": _text,
        "query": _text,
        "headers": st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), _text, max_size=5
        ),
        "user_agent": _text,
        "latency_ms": st.floats(0, 1e6, allow_nan=False),
        "bytes": st.integers(0, 2**40),
        "gateway": _text,
        "username": _text,
    },
)


@given(_events)
def test_json_round_trip(data: dict[str, Any]) -> None:
    """Any valid event survives a trip through its JSON wire form unchanged."""
    event = RequestEvent.model_validate(data)
    assert RequestEvent.model_validate_json(event.model_dump_json()) == event
