"""From log lines to RequestEvents: shared by `ingest` and `check`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from pipeline.errors import EventParseError, EventTooLargeError, InvalidEventError
from pipeline.ingest.formats import LineParser
from pipeline.wire import MAX_EVENT_BYTES, validation_reason
from schemas.request import RequestEvent, content_id


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based
    raw: bytes


def read_lines(stream: BinaryIO) -> Iterator[Line]:
    """Numbered non-blank lines; a line over the bound is still yielded (and refused later)."""
    for number, raw in enumerate(stream, 1):
        raw = raw.rstrip(b"\r\n")
        if raw.strip():
            yield Line(number, raw)


def to_event(
    line: Line, parse: LineParser, source: str, gateway: str | None = None
) -> RequestEvent:
    """One RequestEvent from one log line. Its id, when the line has none, is stable for the
    same source and line, so re-ingesting a file never duplicates."""
    if len(line.raw) > MAX_EVENT_BYTES:
        raise EventTooLargeError("line", len(line.raw), MAX_EVENT_BYTES)
    text = line.raw.decode("utf-8", "replace")
    try:
        data = parse(text)
    except InvalidEventError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise EventParseError(f"unparseable line ({type(err).__name__})") from None
    if gateway:
        data["gateway"] = gateway
    if not data.get("event_id"):
        data["event_id"] = content_id(data, salt=f"{source}:{line.number}")
    try:
        return RequestEvent.model_validate(data)
    except ValidationError as err:
        raise EventParseError(validation_reason(err)) from None


def source_name(path: Path | None) -> str:
    return "stdin" if path is None else path.name


def events_of(
    lines: Iterable[Line], parse: LineParser, source: str, gateway: str | None = None
) -> Iterator[tuple[Line, RequestEvent | InvalidEventError]]:
    for line in lines:
        try:
            yield line, to_event(line, parse, source, gateway)
        except InvalidEventError as err:
            yield line, err
