"""Batch transforms of the agents."""

from __future__ import annotations

import orjson

from pipeline.batch import SourceRecord, chunk, classify_records, index_actions
from pipeline.core import Processor
from pipeline.sample import SampleTraffic
from pipeline.wire import pack


def _records(n: int) -> list[bytes]:
    return [orjson.dumps(e) for e in SampleTraffic(seed=5).events(n)]


class TestClassifyRecords:
    def test_every_event_is_accounted_for(self, processor: Processor) -> None:
        """Good events become audit lines, bad ones dead letters; none is lost."""
        lines = _records(40)
        records = [
            SourceRecord(pack(lines[:20]), "req", 0, 1),
            SourceRecord(b"{broken", "req", 1, 2),
            SourceRecord(pack([*lines[20:], b'{"status": 1}']), "req", 2, 3),
        ]
        out = classify_records(records, processor)
        assert out.events == 42
        assert len(out.audit_lines) == 40
        assert [(d.partition, d.offset, d.line) for d in out.dead] == [(1, 2, 0), (2, 3, 20)]

    def test_audit_ids_are_event_ids(self, processor: Processor) -> None:
        """Each audit line carries its event's id (the Elasticsearch _id)."""
        lines = _records(5)
        out = classify_records([SourceRecord(pack(lines), "req")], processor)
        ids = [orjson.loads(line)["event"]["id"] for line in out.audit_lines]
        assert len(set(ids)) == 5


class TestIndexActions:
    def test_daily_index_and_id(self, processor: Processor) -> None:
        """Actions target <prefix>-audit-YYYY.MM.DD by @timestamp, with _id = event.id."""
        out = classify_records([SourceRecord(pack(_records(3)), "req")], processor)
        batch = index_actions([SourceRecord(pack(out.audit_lines), "audit", 0, 9)], "rg")
        assert [a.index for a in batch.actions] == ["rg-audit-2024.05.14"] * 3
        assert all(a.id == orjson.loads(a.source)["event"]["id"] for a in batch.actions)

    def test_foreign_records_are_dead_lettered(self) -> None:
        """A line that is not an audit record goes to the dead letters with its place."""
        batch = index_actions([SourceRecord(b'{"x": 1}\nnot json', "audit", 3, 7)], "rg")
        assert batch.actions == []
        assert [(d.offset, d.line) for d in batch.dead] == [(7, 0), (7, 1)]


def test_chunk_bounds() -> None:
    """Packs respect both the line count and the byte bound."""
    lines = [b"x" * 10] * 25
    assert [len(p) for p in chunk(lines, 10)] == [10, 10, 5]
    assert [len(p) for p in chunk(lines, 100, max_bytes=55)] == [5, 5, 5, 5, 5]
