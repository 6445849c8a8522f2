"""Batch transforms the agents call: pure functions over lists of Kafka record values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from pipeline.audit import dumps
from pipeline.core import Processor
from pipeline.errors import EventParseError, InvalidEventError
from pipeline.es.bulk import IndexAction
from pipeline.es.indices import audit_index_for_day
from pipeline.wire import dead_letter, decode_requests
from schemas.deadletter import DeadLetter


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A Kafka record's value and where it came from (for dead letters)."""

    value: bytes
    topic: str
    partition: int | None = None
    offset: int | None = None


@dataclass(slots=True)
class ClassifiedBatch:
    audit_lines: list[bytes] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    events: int = 0


def classify_records(
    records: Sequence[SourceRecord], processor: Processor, now: datetime | None = None
) -> ClassifiedBatch:
    """RequestEvent records (single or packed) → audit lines; every bad event → a dead letter.
    Never raises for bad input."""
    now = now or datetime.now(UTC)
    out = ClassifiedBatch()
    for rec in records:
        for index, (raw, parsed) in enumerate(decode_requests(rec.value)):
            out.events += 1
            if isinstance(parsed, InvalidEventError):
                out.dead.append(
                    dead_letter(
                        parsed,
                        raw,
                        rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        line=index,
                    )
                )
                continue
            try:
                out.audit_lines.append(dumps(processor.process(parsed, now)))
            except Exception as err:
                out.dead.append(
                    dead_letter(
                        err,
                        raw,
                        rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        line=index,
                        reason=f"processing failed: {type(err).__name__}",
                    )
                )
    return out


def chunk(lines: list[bytes], max_lines: int, max_bytes: int = 900_000) -> list[list[bytes]]:
    """Split lines into packs bounded by count and size."""
    packs: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and (len(current) >= max_lines or size + len(line) > max_bytes):
            packs.append(current)
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        packs.append(current)
    return packs


@dataclass(slots=True)
class IndexBatch:
    actions: list[IndexAction] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def index_actions(records: Sequence[SourceRecord], prefix: str) -> IndexBatch:
    """Audit lines → bulk index actions (`_id` = event.id, daily index by @timestamp)."""
    out = IndexBatch()
    for rec in records:
        for index, line in enumerate(x for x in rec.value.split(b"\n") if x.strip()):
            try:
                doc = orjson.loads(line)
                event_id = doc["event"]["id"]
                day = doc["@timestamp"]
                if not isinstance(event_id, str) or not isinstance(day, str) or len(day) < 10:
                    raise EventParseError("audit record without event.id or @timestamp")
            except (orjson.JSONDecodeError, KeyError, TypeError, EventParseError) as err:
                reason = (
                    err.reason
                    if isinstance(err, EventParseError)
                    else (f"not an audit record ({type(err).__name__})")
                )
                out.dead.append(
                    dead_letter(
                        err,
                        line,
                        rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        line=index,
                        reason=reason,
                    )
                )
                continue
            out.actions.append(IndexAction(audit_index_for_day(prefix, day), event_id, line))
    return out
