"""From log lines to RequestEvents: shared by `ingest` and `check`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import count
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
    size: int = 0  # the whole line's length when `raw` is only its start (a line over the bound)


def read_lines(stream: BinaryIO) -> Iterator[Line]:
    """Numbered non-blank lines. A line over the bound is yielded cut just past it (and refused
    later): the rest is skipped, never held, so a file without newlines costs no memory."""
    for number in count(1):
        raw = stream.readline(MAX_EVENT_BYTES + 1)
        if not raw:
            return
        size = 0
        if len(raw) > MAX_EVENT_BYTES and not raw.endswith(b"\n"):
            size = len(raw) + _skip_line(stream)
        raw = raw.rstrip(b"\r\n")
        if raw.strip():
            yield Line(number, raw, size)


def _skip_line(stream: BinaryIO) -> int:
    """Read past the end of the current line in bounded chunks; its bytes skipped."""
    skipped = 0
    while chunk := stream.readline(1 << 20):
        if chunk.endswith(b"\n"):
            return skipped + len(chunk.rstrip(b"\r\n"))
        skipped += len(chunk)
    return skipped


def to_event(
    line: Line, parse: LineParser, source: str, gateway: str | None = None
) -> RequestEvent:
    """One RequestEvent from one log line. Its id, when the line has none, is stable for the
    same source and line, so re-ingesting a file never duplicates."""
    if len(line.raw) > MAX_EVENT_BYTES:
        raise EventTooLargeError("line", max(line.size, len(line.raw)), MAX_EVENT_BYTES)
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
