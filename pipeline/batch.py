"""Batch transforms the agents call: pure functions over lists of Kafka record values."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from pipeline.audit import audit_document, dumps
from pipeline.auth.credentials import Classification
from pipeline.auth.seal import Opener
from pipeline.auth.sealed import try_open
from pipeline.core import Processor
from pipeline.detect.signals import Signal, SignalDeriver, aggregate
from pipeline.errors import EventParseError, InvalidEventError
from pipeline.es.bulk import IndexAction
from pipeline.es.indices import audit_index_for_day
from pipeline.wire import dead_letter, decode_requests
from schemas.deadletter import DeadLetter
from schemas.request import RequestEvent
from schemas.signal import SignalBatch


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A Kafka record's value and where it came from (for dead letters)."""

    value: bytes | None  # None: a tombstone (Kafka allows one on any topic)
    topic: str
    partition: int | None = None
    offset: int | None = None


@dataclass(slots=True)
class ClassifiedBatch:
    audit_lines: list[bytes] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    events: int = 0
    signals: dict[str, SignalBatch] = field(default_factory=dict)
    # (scheme, outcome, verdict) → calls, and the newest event time seen, for the metrics.
    tally: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    newest: float = 0.0


@dataclass(slots=True)
class ParsedBatch:
    """The events of a batch of records, each with where it came from; bad ones as letters."""

    events: list[RequestEvent] = field(default_factory=list)
    origins: list[tuple[bytes, SourceRecord, int]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def parse_records(records: Sequence[SourceRecord], opener: Opener | None = None) -> ParsedBatch:
    """RequestEvent records (single or packed) → events, their sealed credentials opened; every
    bad one (an event that cannot be opened too) → a dead letter."""
    out = ParsedBatch()
    for rec in records:
        for index, (raw, parsed) in enumerate(decode_requests(rec.value)):
            if not isinstance(parsed, InvalidEventError) and parsed.sealed is not None:
                parsed = try_open(parsed, opener)
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
            else:
                out.events.append(parsed)
                out.origins.append((raw, rec, index))
    return out


def judge_records(
    parsed: ParsedBatch,
    classes: Sequence[Classification],
    processor: Processor,
    now: datetime,
    deriver: SignalDeriver | None = None,
) -> ClassifiedBatch:
    """Classified events → audit lines (and detection signals, per subject). An event whose
    processing fails is dead-lettered."""
    out = ClassifiedBatch(dead=list(parsed.dead), events=len(parsed.events) + len(parsed.dead))
    signals: list[Signal] = []
    for event, cls, (raw, rec, index) in zip(parsed.events, classes, parsed.origins, strict=True):
        try:
            e = processor.judge(event, cls)
            out.audit_lines.append(dumps(audit_document(event, cls, e.check, e.ruling, now)))
            out.tally[(cls.scheme, e.check.outcome, e.ruling.verdict)] += 1
            if deriver is not None:
                src = (
                    (rec.partition, rec.offset, index)
                    if rec.partition is not None and rec.offset is not None
                    else None
                )
                signals.extend(deriver.signals(e, src))
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
    if signals:
        out.signals = aggregate(signals)
    if parsed.events:
        out.newest = max(e.timestamp for e in parsed.events).timestamp()
    return out


def classify_records(
    records: Sequence[SourceRecord],
    processor: Processor,
    now: datetime | None = None,
    opener: Opener | None = None,
) -> ClassifiedBatch:
    """parse → classify → prefetch → judge, synchronously (tests, tools)."""
    parsed = parse_records(records, opener)
    classes = processor.classify(parsed.events)
    processor.prefetch(classes)
    return judge_records(parsed, classes, processor, now or datetime.now(UTC))


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


_TS = b'{"@timestamp":"'
_ID = b'","event":{"id":"'
_ID_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


def _id_and_day(line: bytes) -> tuple[str, str] | None:
    """Our own audit lines start `{"@timestamp":"<UTC time>","event":{"id":"<id>"`: read both
    without parsing the whole document (ES parses it anyway). None if the shape differs."""
    if not line.startswith(_TS):
        return None
    end = line.find(b'"', len(_TS))
    if end < len(_TS) + 10 or not line.startswith(_ID, end):
        return None
    start = end + len(_ID)
    stop = line.find(b'"', start)
    event_id = line[start:stop]
    if stop <= start or stop - start > 128 or not _ID_CHARS.issuperset(event_id):
        return None
    return event_id.decode(), line[len(_TS) : len(_TS) + 10].decode()


def index_actions(records: Sequence[SourceRecord], prefix: str) -> IndexBatch:
    """Audit lines → bulk index actions (`_id` = event.id, daily index by @timestamp)."""
    out = IndexBatch()
    for rec in records:
        if not rec.value or not rec.value.strip():
            err = EventParseError("audit record holds no line")
            out.dead.append(
                dead_letter(
                    err, rec.value or b"", rec.topic, partition=rec.partition, offset=rec.offset
                )
            )
            continue
        for index, line in enumerate(x for x in rec.value.split(b"\n") if x.strip()):
            fast = _id_and_day(line)
            if fast is not None:
                out.actions.append(
                    IndexAction(audit_index_for_day(prefix, fast[1]), *fast[:1], line)
                )
                continue
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
