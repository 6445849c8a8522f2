"""Poison records on the requests and audit topics: every record is accounted for by events or
dead letters, no exception escapes the agents' pure steps, and dead letters stay bounded and
free of credentials."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from agents.classify import AUDIT_PACK_LINES
from pipeline.batch import (
    ClassifiedBatch,
    SourceRecord,
    chunk,
    index_actions,
    judge_records,
    parse_records,
)
from pipeline.core import build_processor
from pipeline.detect.signals import SignalDeriver
from pipeline.errors import InvalidEventError
from pipeline.wire import (
    MAX_RECORD_BYTES,
    MAX_RECORD_ERRORS,
    MAX_RECORD_EVENTS,
    dead_letter,
    decode_requests,
    pack,
)
from schemas.deadletter import DeadLetter
from schemas.request import RequestEvent
from schemas.settings import Settings
from tests.conftest import TEST_SECRET
from tests.pipeline.hostile.strategies import (
    BAD_UTF8,
    BREAKS,
    EVENT,
    JSON_VALUES,
    RAW_JSON,
    carried_secret,
    event_json,
    good_event,
    hostile,
    spliced,
)

SETTINGS = Settings()
PROCESSOR = build_processor(SETTINGS, TEST_SECRET)
NOW = datetime(2024, 5, 14, 10, tzinfo=UTC)
TOPIC = "rg.requests"

DIGEST = 'Digest username="alice", response="Zk900000000"'
DEEP_ARRAY = b"[" * 300 + b"]" * 300  # deeper than orjson writes (254), shallower than it reads
PACK_LINE = st.one_of(
    st.integers(0, 10_000).map(good_event),
    event_json(),
    st.binary(min_size=1, max_size=64).filter(lambda b: b.strip() and b"\n" not in b),
    BAD_UTF8,
)
RECORD_VALUES: st.SearchStrategy[bytes | None] = st.one_of(
    event_json(),
    st.lists(PACK_LINE | st.sampled_from([b"", b"  ", b"\r"]), max_size=12).map(pack),
    st.lists(
        st.integers(0, 999).map(lambda n: orjson.loads(good_event(n))) | JSON_VALUES, max_size=8
    ).map(orjson.dumps),
    RAW_JSON.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=256),
    event_json().flatmap(spliced),
    st.sampled_from([b"", b" ", b"\n\n", b"[]", b"[", b"null", b"[null]", DEEP_ARRAY]),
    st.none(),  # a tombstone
)


def agent_step(records: list[SourceRecord]) -> tuple[ClassifiedBatch, list[bytes], list[bytes]]:
    """What the classify agent does with one batch, without Kafka: the pure steps, then the
    serialisation of all it sends (audit packs; dead letters and signals)."""
    parsed = parse_records(records)
    classes = PROCESSOR.classify(parsed.events)
    PROCESSOR.prefetch(classes)
    batch = judge_records(parsed, classes, PROCESSOR, NOW, SignalDeriver(SETTINGS.detection))
    audit = [pack(p) for p in chunk(batch.audit_lines, AUDIT_PACK_LINES)]
    other = [d.model_dump_json().encode() for d in batch.dead]
    other += [k.encode() + s.model_dump_json().encode() for k, s in batch.signals.items()]
    return batch, audit, other


def assert_bounded(letter: DeadLetter) -> None:
    assert letter.reason
    assert len(letter.reason) <= 2048
    assert len(letter.excerpt) <= 512
    assert letter.excerpt.isprintable()


def records_of(values: list[bytes | None]) -> list[SourceRecord]:
    # Tombstones reach the agent as None though SourceRecord says bytes: Kafka allows them.
    return [SourceRecord(v, TOPIC, i % 4, 100 + i) for i, v in enumerate(values)]


class TestDecodeRequests:
    @hostile(300)
    @given(RECORD_VALUES)
    @example(DEEP_ARRAY)  # orjson reads 1024 levels but writes 254: the re-dump raised
    @example(b"[" + DEEP_ARRAY + b"]")
    @example(None)  # a tombstone: len(None) raised
    @example(b"")  # an empty record vanished without a trace
    @example(b"[]")
    @example(b" " * (MAX_RECORD_BYTES + 1))
    def test_any_record_is_events_or_errors(self, value: bytes | None) -> None:
        """A record of any bytes decodes to at least one result, each an event or an error
        with a reason; nothing raises."""
        out = decode_requests(value)
        assert out
        for raw, parsed in out:
            assert isinstance(raw, bytes)
            assert isinstance(parsed, RequestEvent | InvalidEventError)
            if isinstance(parsed, InvalidEventError):
                assert parsed.reason

    @hostile(150)
    @given(st.lists(PACK_LINE, min_size=1, max_size=20))
    @example([b"[1]", good_event(5), good_event(6)])  # read as one broken array: all were lost
    @example([b"[", good_event(7)])
    def test_a_pack_keeps_every_line_in_order(self, lines: list[bytes]) -> None:
        """A pack of N non-blank lines is N results in order; each good event is an event."""
        out = decode_requests(pack(lines))
        assert len(out) == len(lines)
        for line, (raw, parsed) in zip(lines, out, strict=True):
            assert raw == line.strip()
            if line.startswith(b'{"timestamp"') and b"good-" in line:
                assert isinstance(parsed, RequestEvent)

    @hostile(20)
    @given(st.sampled_from([b"0", b'"x"', b"{}", b"[1]"]), st.integers(1, 30_000), st.booleans())
    @example(b"0", 4_000_000, False)  # 8 MB of tiny bad lines: 4 million parses and letters
    @example(b"0", 1_000_000, True)
    @example(b"{}", MAX_RECORD_EVENTS, False)  # at the bound: decoded (and soon abandoned)
    def test_results_per_record_are_bounded(self, line: bytes, n: int, array: bool) -> None:
        """However many (bad) events a record claims, decoding costs and yields a bounded number
        of results and at most MAX_RECORD_ERRORS + 1 errors; the last error stands for the
        lines not read."""
        value = b"[" + b",".join([line] * n) + b"]" if array else pack([line] * n) + b"\n"
        out = decode_requests(value)
        errors = [p for _, p in out if isinstance(p, InvalidEventError)]
        if n > MAX_RECORD_EVENTS:
            assert len(out) == 1
            assert "more than" in errors[0].reason
        else:
            assert len(out) == min(n, MAX_RECORD_ERRORS + 1)
            if n > MAX_RECORD_ERRORS:
                assert f"{n - MAX_RECORD_ERRORS} more not read" in errors[-1].reason


class TestClassifyBatch:
    @hostile(120)
    @given(st.lists(RECORD_VALUES, min_size=1, max_size=6))
    @example([DEEP_ARRAY, good_event(1)])
    @example([None, good_event(2), b""])
    @example([pack([good_event(3), b"\xff", b'{"status":1}', good_event(4)])])
    def test_every_record_is_accounted_for(self, values: list[bytes | None]) -> None:
        """Each record yields events or dead letters (at least one) with its own partition,
        offset and line; every parsed event is an audit line or a dead letter; all that the
        agent sends serialises."""
        records = records_of(values)
        parsed = parse_records(records)
        per_record: Counter[int | None] = Counter()
        places: set[tuple[int | None, int | None]] = set()
        for _, rec, index in parsed.origins:
            per_record[rec.offset] += 1
            places.add((rec.offset, index))
        for letter in parsed.dead:
            assert letter.source == TOPIC
            assert letter.partition is not None
            assert letter.line is not None
            assert letter.partition == records[letter.offset - 100].partition  # type: ignore[operator]
            per_record[letter.offset] += 1
            places.add((letter.offset, letter.line))
            assert_bounded(letter)
        assert set(per_record) == {r.offset for r in records}, "a record left no trace"
        assert len(places) == sum(per_record.values()), "two results claim one place"
        for offset, n in per_record.items():
            assert {line for o, line in places if o == offset} == set(range(n))

        batch, audit, _ = agent_step(records)
        assert batch.events == len(parsed.events) + len(parsed.dead)
        assert len(batch.audit_lines) + len(batch.dead) == batch.events

        # The index agent takes every audit line this batch produced.
        indexed = index_actions([SourceRecord(v, "rg.audit") for v in audit], "rg")
        assert not indexed.dead
        assert len(indexed.actions) == len(batch.audit_lines)

    @hostile(80)
    @given(
        st.lists(st.integers(20_000, 30_000), min_size=1, max_size=20, unique=True), RECORD_VALUES
    )
    def test_good_events_survive_poison_beside_them(
        self, ids: list[int], poison: bytes | None
    ) -> None:
        """Good events packed with or next to poison are each audited exactly once."""
        values = [pack([good_event(n) for n in ids[::2]]), poison, *map(good_event, ids[1::2])]
        batch, _, _ = agent_step(records_of(values))
        audited = Counter(orjson.loads(line)["event"]["id"] for line in batch.audit_lines)
        for n in ids:
            assert audited[f"good-{n}"] == 1


class TestDeadLetters:
    @hostile(200)
    @given(carried_secret(), st.sampled_from(BREAKS))
    # The Basic/Digest mask ate the backslash of `\"`, ending the JSON string for the header
    # mask early: Digest's response leaked.
    @example(({"headers": {"authorization": DIGEST}}, "Zk900000000"), BREAKS[0])
    # A repeated header arrives as a JSON list: only its first element was masked.
    @example(({"headers": {"cookie": ["a=1", "JSESSIONID=Zk900000000"]}}, "Zk900000000"), BREAKS[0])
    def test_no_credential_in_a_dead_letter(
        self,
        carried: tuple[dict[str, Any], str],
        broken: tuple[str, Callable[[dict[str, Any]], bytes]],
    ) -> None:
        """A broken event that carries a credential is dead-lettered without it (reason and
        excerpt), and the letter stays bounded."""
        fields, secret = carried
        raw = broken[1]({**EVENT, **fields})
        assert secret.encode() in raw
        batch, audit, other = agent_step([SourceRecord(raw, TOPIC, 0, 7)])
        assert batch.dead, f"{broken[0]}: the event was not dead-lettered"
        for letter in batch.dead:
            assert_bounded(letter)
            assert (letter.partition, letter.offset) == (0, 7)
        for value in audit + other:
            assert secret.encode() not in value

    @hostile(200)
    @given(carried_secret())
    def test_no_credential_in_what_a_good_event_becomes(
        self, carried: tuple[dict[str, Any], str]
    ) -> None:
        """A valid event's credential is in none of its audit line, signals or letters."""
        fields, secret = carried
        raw = orjson.dumps({**EVENT, **fields})
        batch, audit, other = agent_step([SourceRecord(raw, TOPIC, 0, 1)])
        assert len(batch.audit_lines) == 1
        for value in audit + other:
            assert secret.encode() not in value

    @hostile(100)
    @given(st.binary(max_size=4096), st.integers(0, 2**31), st.integers(0, 2**40))
    def test_letters_of_any_bytes_are_bounded(
        self, raw: bytes, partition: int, offset: int
    ) -> None:
        """A dead letter of any input: bounded, printable excerpt; the real size; its place."""
        letter = dead_letter(ValueError("x"), raw, TOPIC, partition=partition, offset=offset)
        assert_bounded(letter)
        assert letter.size == len(raw)
        assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter


class TestIndexActions:
    @hostile(200)
    @given(RECORD_VALUES)
    @example(None)
    @example(b'{"@timestamp":"2024-05-14T09:00:00Z","event":{"id":"' + b"x" * 200 + b'"}}')
    @example(b'{"@timestamp":"2024","event":{"id":"a"}}')
    @example(b'{"@timestamp":"2024-05-14T09","event":{"id":"a"}}\n[1]\n"s"\n{"event":1}')
    def test_any_audit_record_is_indexed_or_dead_lettered(self, value: bytes | None) -> None:
        """Every non-blank line of an audit-topic record becomes an index action or a dead
        letter; nothing raises."""
        records = [SourceRecord(value, "rg.audit", 2, 9)]
        out = index_actions(records, "rg")
        lines = [x for x in (value or b"").split(b"\n") if x.strip()]
        assert len(out.actions) + len(out.dead) == max(1, len(lines))
        for action in out.actions:
            assert action.index.startswith("rg-audit-")
            assert 1 <= len(action.id) <= 512
        for letter in out.dead:
            assert_bounded(letter)
