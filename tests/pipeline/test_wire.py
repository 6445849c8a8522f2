"""The requests-topic wire format and dead letters."""

from __future__ import annotations

import orjson

from pipeline.errors import EventParseError, EventTooLargeError
from pipeline.wire import MAX_EVENT_BYTES, dead_letter, decode_requests, pack, unpack
from schemas.request import RequestEvent

EVENT = {
    "timestamp": "2024-05-14T09:00:00Z",
    "method": "GET",
    "path": "/x",
    "status": 200,
    "client_ip": "10.0.0.1",
}


class TestDecode:
    def test_single_object(self) -> None:
        """A record with one JSON object is one event."""
        [(raw, event)] = decode_requests(orjson.dumps(EVENT))
        assert isinstance(event, RequestEvent)
        assert raw == orjson.dumps(EVENT)

    def test_pack_of_lines(self) -> None:
        """A pack (one object per line) keeps every event, in order."""
        lines = [orjson.dumps({**EVENT, "path": f"/p{i}"}) for i in range(5)]
        out = decode_requests(pack(lines))
        assert [e.path for _, e in out if isinstance(e, RequestEvent)] == [
            f"/p{i}" for i in range(5)
        ]
        assert unpack(pack(lines)) == lines

    def test_json_array(self) -> None:
        """A JSON array of events is accepted too."""
        out = decode_requests(orjson.dumps([EVENT, EVENT]))
        assert len(out) == 2
        assert all(isinstance(e, RequestEvent) for _, e in out)

    def test_bad_line_does_not_spoil_the_pack(self) -> None:
        """One broken event in a pack is an error for that event alone."""
        value = pack([orjson.dumps(EVENT), b"{not json", orjson.dumps({**EVENT, "status": "x"})])
        kinds = [type(e) for _, e in decode_requests(value)]
        assert kinds == [RequestEvent, EventParseError, EventParseError]

    def test_oversized_event(self) -> None:
        """An event over the size bound is refused before parsing."""
        big = orjson.dumps({**EVENT, "user_agent": "a" * MAX_EVENT_BYTES})
        [(_, err)] = decode_requests(big)
        assert isinstance(err, EventTooLargeError)

    def test_random_bytes(self) -> None:
        """Garbage is an error, never an exception."""
        for value in (b"\xff\xfe\x00garbage", b"[1, 2", b"[1, 2]", b"null", b"\x00" * 100):
            for _, parsed in decode_requests(value):
                assert isinstance(parsed, EventParseError)


class TestDeadLetter:
    def test_reason_and_place_without_the_secret(self) -> None:
        """A dead letter says why and where, and its excerpt hides credentials."""
        raw = orjson.dumps(
            {
                **EVENT,
                "status": "bad",
                "headers": {"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.abc.def"},
            }
        )
        [(_, err)] = decode_requests(raw)
        assert isinstance(err, EventParseError)
        letter = dead_letter(err, raw, "restguard.requests", partition=2, offset=41, line=0)
        assert "status" in letter.reason
        assert (letter.partition, letter.offset, letter.line) == (2, 41, 0)
        assert "eyJhbGciOiJSUzI1NiJ9" not in letter.model_dump_json()
        assert letter.size == len(raw)

    def test_reason_does_not_echo_input(self) -> None:
        """Validation reasons name the field, never its value."""
        raw = orjson.dumps({**EVENT, "client_ip": "hunter2-password"})
        [(_, err)] = decode_requests(raw)
        assert isinstance(err, EventParseError)
        assert "hunter2" not in err.reason
