"""The Kafka wire format of restguard's topics.

requests: a record's value is one RequestEvent JSON object, a JSON array of them, or several
    JSON objects one per line (a pack): gateways may send one event per record, `ingest` packs
    many to amortise per-record costs. At most MAX_RECORD_EVENTS events per record.
audit: one or more AuditRecord JSON documents, one per line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import orjson
from pydantic import ValidationError

from pipeline.errors import EventParseError, EventTooLargeError, InvalidEventError
from pipeline.redact import excerpt
from schemas.deadletter import DeadLetter
from schemas.request import RequestEvent

MAX_EVENT_BYTES = 256 * 1024
MAX_RECORD_BYTES = 8 * 1024 * 1024
# kafka.pack_size's bound: a record claiming more events is refused whole, so that one small
# record of tiny bad lines cannot cost millions of parses and dead letters.
MAX_RECORD_EVENTS = 10_000
# A record this broken is poison: the rest of it is one error, not thousands more parses and
# letters (a failed parse costs ten times a good one; a batch must stay well within the
# consumer's session timeout).
MAX_RECORD_ERRORS = 100
_NON_BLANK = re.compile(rb"^[^\S\n]*\S", re.MULTILINE)  # a line `_lines` keeps

Parsed = RequestEvent | InvalidEventError


def _lines(value: bytes) -> Iterator[bytes]:
    for line in value.split(b"\n"):
        line = line.strip()
        if line:
            yield line


def parse_event(raw: bytes) -> RequestEvent:
    """One RequestEvent from JSON bytes; InvalidEventError with a readable reason otherwise."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventTooLargeError("event", len(raw), MAX_EVENT_BYTES)
    try:
        return RequestEvent.model_validate_json(raw)
    except ValidationError as err:
        raise EventParseError(validation_reason(err)) from None


def validation_reason(err: ValidationError) -> str:
    """A short reason from a pydantic error, without echoing input values (they may be secrets)."""
    parts = []
    for e in err.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in e["loc"]) or "(event)"
        parts.append(f"{loc}: {e['msg']}")
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def decode_requests(value: bytes | None) -> list[tuple[bytes, Parsed]]:
    """Every event in a requests-topic record, each with its raw bytes, in order; never
    nothing. A record without any event (empty, a tombstone) or over a bound is one error; one
    past MAX_RECORD_ERRORS invalid events ends in an error that stands for the rest."""
    if value is None:
        return [(b"", EventParseError("record has no value (a tombstone)"))]
    if len(value) > MAX_RECORD_BYTES:
        return [(value, EventTooLargeError("record", len(value), MAX_RECORD_BYTES))]
    stripped = value.lstrip()
    items = _array(stripped) if stripped.startswith(b"[") else None
    if isinstance(items, EventParseError):
        return [(value, items)]
    if items is not None:
        if len(items) > MAX_RECORD_EVENTS:
            return [(value, _too_many())]
        raws: list[bytes | None] = [_dumped(item) for item in items]
    elif value.count(b"\n") >= MAX_RECORD_EVENTS and _count_lines(value) > MAX_RECORD_EVENTS:
        return [(value, _too_many())]
    else:
        raws = list(_lines(value))
    if not raws:
        return [(value, EventParseError("record holds no event"))]
    out: list[tuple[bytes, Parsed]] = []
    errors = 0
    for index, raw in enumerate(raws):
        parsed = _safe_parse(raw) if raw is not None else EventParseError(_TOO_DEEP)
        out.append((raw if raw is not None else value, parsed))
        if isinstance(parsed, InvalidEventError):
            errors += 1
            if errors == MAX_RECORD_ERRORS and index + 1 < len(raws):
                rest = len(raws) - index - 1
                reason = f"record abandoned after {errors} invalid events: {rest} more not read"
                out.append((value, EventParseError(reason)))
                break
    return out


_TOO_DEEP = "unparseable event (nested too deeply)"


def _dumped(item: object) -> bytes | None:
    try:
        return orjson.dumps(item)
    except orjson.JSONEncodeError:  # orjson reads 1024 levels of nesting but writes 254
        return None


def _array(stripped: bytes) -> list[Any] | EventParseError | None:
    """The items of a JSON-array record; None for a pack whose first line is no array."""
    try:
        items: list[Any] = orjson.loads(stripped)
    except orjson.JSONDecodeError as err:
        if b"\n" in stripped.rstrip():
            return None  # a pack whose first event is broken: the others still count
        return EventParseError(f"invalid JSON array: {err.msg}")
    return items


def _count_lines(value: bytes) -> int:
    """Non-blank lines, counted without splitting, up to one past the bound."""
    return sum(1 for _ in islice(_NON_BLANK.finditer(value), MAX_RECORD_EVENTS + 1))


def _too_many() -> EventParseError:
    return EventParseError(f"record holds more than {MAX_RECORD_EVENTS} events")


def _safe_parse(raw: bytes) -> Parsed:
    try:
        return parse_event(raw)
    except InvalidEventError as err:
        return err
    except Exception as err:
        return EventParseError(f"unparseable event ({type(err).__name__})")


def pack(lines: list[bytes]) -> bytes:
    return b"\n".join(lines)


def unpack(value: bytes) -> list[bytes]:
    return list(_lines(value))


def dead_letter(
    err: InvalidEventError | Exception,
    raw: bytes,
    source: str,
    *,
    partition: int | None = None,
    offset: int | None = None,
    line: int | None = None,
    reason: str | None = None,
) -> DeadLetter:
    """A dead letter: the reason and where the input was, never the input itself."""
    return DeadLetter(
        reason=(reason or getattr(err, "reason", None) or str(err) or type(err).__name__)[:2048],
        error=type(err).__name__,
        source=source,
        partition=partition,
        offset=offset,
        line=line,
        received_at=datetime.now(UTC),
        size=len(raw),
        excerpt=excerpt(raw),
    )
