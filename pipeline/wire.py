"""The Kafka wire format of restguard's topics.

requests: a record's value is one RequestEvent JSON object, a JSON array of them, or several
    JSON objects one per line (a pack): gateways may send one event per record, `ingest` packs
    many to amortise per-record costs.
audit: one or more AuditRecord JSON documents, one per line.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
from pydantic import ValidationError

from pipeline.errors import EventParseError, EventTooLargeError, InvalidEventError
from pipeline.redact import excerpt
from schemas.deadletter import DeadLetter
from schemas.request import RequestEvent

MAX_EVENT_BYTES = 256 * 1024
MAX_RECORD_BYTES = 8 * 1024 * 1024

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


def decode_requests(value: bytes) -> list[tuple[bytes, Parsed]]:
    """Every event in a requests-topic record, each with its raw bytes, in order."""
    if len(value) > MAX_RECORD_BYTES:
        return [(value[:1024], EventTooLargeError("record", len(value), MAX_RECORD_BYTES))]
    stripped = value.lstrip()
    if stripped.startswith(b"["):
        try:
            items = orjson.loads(stripped)
        except orjson.JSONDecodeError as err:
            return [(value, EventParseError(f"invalid JSON array: {err.msg}"))]
        out: list[tuple[bytes, Parsed]] = []
        for item in items:
            raw = orjson.dumps(item)
            out.append((raw, _safe_parse(raw)))
        return out
    return [(line, _safe_parse(line)) for line in _lines(value)]


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
