"""`restguard ingest`: log lines → packed RequestEvents on Kafka; bad lines → dead letters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from pipeline.auth.sealed import EventSealer, gateway_sealer
from pipeline.errors import InvalidEventError
from pipeline.ingest.formats import parser_for
from pipeline.ingest.lines import Line, events_of
from pipeline.wire import dead_letter, pack
from schemas.request import RequestEvent
from schemas.settings import Settings


class RecordSink(Protocol):
    def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> None: ...
    def flush(self, timeout_s: float = 60.0) -> None: ...


@dataclass
class IngestSummary:
    lines: int = 0
    events: int = 0
    dead: int = 0
    records: int = 0
    seconds: float = 0.0
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


Progress = Callable[[IngestSummary, int], None]  # summary so far, bytes read


def ingest(
    lines: Iterable[Line],
    sink: RecordSink,
    settings: Settings,
    *,
    fmt: str,
    source: str,
    gateway: str | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Parse, seal (secrets.seal_credentials), pack and send every line. Never stops on a bad
    line."""
    parse = parser_for(fmt)
    seal = gateway_sealer(settings)
    topics = settings.topics
    size = settings.kafka.pack_size
    summary = IngestSummary()
    packed: list[bytes] = []
    read_bytes = 0
    start = time.monotonic()
    last_note = start

    def flush_pack() -> None:
        if packed:
            sink.send(topics.requests, pack(packed))
            summary.records += 1
            packed.clear()

    for line, event in events_of(lines, parse, source, gateway):
        summary.lines += 1
        read_bytes += len(line.raw) + 1
        parsed = _sealed(event, seal) if seal is not None else event
        if isinstance(parsed, InvalidEventError):
            summary.dead += 1
            summary.first_error = summary.first_error or f"line {line.number}: {parsed.reason}"
            letter = dead_letter(parsed, line.raw, source, line=line.number)
            sink.send(topics.deadletter, letter.model_dump_json().encode())
            continue
        summary.events += 1
        packed.append(parsed.model_dump_json(exclude_none=True).encode())
        if len(packed) >= size:
            flush_pack()
        if progress is not None and summary.lines % 1000 == 0:
            now = time.monotonic()
            if now - last_note >= 0.5:
                summary.seconds = now - start
                progress(summary, read_bytes)
                last_note = now
    flush_pack()
    sink.flush()
    summary.seconds = time.monotonic() - start
    return summary


def _sealed(
    event: RequestEvent | InvalidEventError, seal: EventSealer
) -> RequestEvent | InvalidEventError:
    if isinstance(event, InvalidEventError):
        return event
    try:
        return seal.seal(event)
    except InvalidEventError as err:
        return err
