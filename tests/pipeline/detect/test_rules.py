"""Detection rules as data: each folder of tests/data/detect holds a config, the request events
and the decisions they must produce (crowdsec-style golden cases)."""

from __future__ import annotations

import tomllib
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.auth.fingerprint import Fingerprinter
from pipeline.batch import SourceRecord, judge_records, parse_records
from pipeline.core import build_processor
from pipeline.detect.rules import RULES, Detector, SubjectState, fresh
from pipeline.detect.signals import SignalDeriver
from schemas.decision import Decision, SubjectType
from schemas.settings import Settings
from schemas.signal import Observation, SignalBatch, SignalKind
from tests.conftest import TEST_SECRET
from tests.pipeline.auth.conftest import SetRevocations

DATA = Path(__file__).parents[2] / "data" / "detect"
WALL = 1_800_000_000.0


def run_case(folder: Path) -> list[Decision]:
    config = tomllib.loads((folder / "config.toml").read_text())
    harness = config.pop("harness", {})
    settings = Settings.model_validate(config)
    revocations = SetRevocations()
    fp = Fingerprinter(TEST_SECRET)
    for material in harness.get("revoked", []):
        revocations.subjects[(SubjectType.CREDENTIAL, fp(material))] = "retired"
    processor = build_processor(settings, TEST_SECRET, revocations=revocations)
    deriver = SignalDeriver(settings.detection)
    detector = Detector(settings.detection, clock=lambda: WALL)
    table: dict[str, bytes] = {}
    decisions: list[Decision] = []
    # One event per batch: the order of observations is the order of the log.
    for line in (folder / "input.jsonl").read_bytes().splitlines():
        parsed = parse_records([SourceRecord(line, "requests")])
        batch = judge_records(
            parsed,
            processor.classify(parsed.events),
            processor,
            parsed.events[0].timestamp,
            deriver,
        )
        for key, signals in batch.signals.items():
            state = SubjectState.loads(table.get(key))
            decisions += detector.observe(key, signals, state)
            table[key] = state.dumps()
    return decisions


def view(d: Decision) -> dict[str, Any]:
    assert d.expires_at is not None
    return {
        "key": d.key,
        "action": d.action.value,
        "rule": d.rule,
        "offense": d.offense,
        "duration_s": (d.expires_at - d.issued_at).total_seconds(),
        "observed_at": d.observed_at.isoformat() if d.observed_at else None,
    }


@pytest.mark.parametrize(
    "folder", sorted(p for p in DATA.iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_golden_case(folder: Path) -> None:
    """The events of the case produce exactly its expected decisions, in order."""
    expected = [orjson.loads(x) for x in (folder / "expected.jsonl").read_bytes().splitlines()]
    assert [view(d) for d in run_case(folder)] == expected


def test_every_rule_has_a_case() -> None:
    """Each registered rule fires in at least one golden case."""
    fired = set()
    for folder in DATA.iterdir():
        for line in (folder / "expected.jsonl").read_bytes().splitlines():
            fired.add(orjson.loads(line)["rule"])
    assert {r.name for r in RULES} <= fired


def _failures(ip: str, n: int, at: float) -> SignalBatch:
    return SignalBatch(
        observations=[Observation(kind=SignalKind.FAILURE, at=at + i, value=ip) for i in range(n)]
    )


def test_a_replayed_decision_keeps_its_id() -> None:
    """After a crash the same evidence is replayed from the last committed offset: the decision
    it re-issues carries the first one's id (receivers keep one), whatever the wall clock."""
    settings = Settings().detection
    ids = []
    for wall in (1000.0, 5000.0):
        state = SubjectState.loads(None)
        decisions = Detector(settings, clock=partial(float, wall)).observe(
            "ip:10.9.9.9", _failures("10.9.9.9", 40, 1_700_000_000.0), state
        )
        assert len(decisions) == 1
        ids.append(decisions[0].id)
    assert ids[0] == ids[1]
    other = Detector(settings).observe(
        "ip:10.9.9.8", _failures("10.9.9.8", 40, 1_700_000_000.0), SubjectState.loads(None)
    )
    assert other[0].id != ids[0]


def test_state_remembers_the_offset_it_applied() -> None:
    state = SubjectState.loads(None)
    assert state.applied == -1
    state.applied = 41
    assert SubjectState.loads(state.dumps()).applied == 41


def _obs(kind: SignalKind, src: tuple[int, int, int] | None) -> Observation:
    return Observation(kind=kind, at=1_700_000_000.0, value="10.1.1.1", src=src)


def test_replayed_calls_are_not_counted_twice() -> None:
    """A crash replays calls from the last committed offset: what the state already holds is
    skipped, by partition and offset; two signals of one call both count; new calls count."""
    state = SubjectState.loads(None)
    first = [
        _obs(SignalKind.FAILURE, (0, 10, 0)),
        _obs(SignalKind.LOGIN_FAILURE, (0, 10, 0)),  # the same call, another signal
        _obs(SignalKind.FAILURE, (1, 5, 2)),
    ]
    assert fresh(first, state) == first
    state = SubjectState.loads(state.dumps())  # recovered from the changelog
    replay = [
        _obs(SignalKind.FAILURE, (0, 10, 0)),
        _obs(SignalKind.FAILURE, (0, 11, 0)),
        _obs(SignalKind.FAILURE, (0, 11, 0)),  # replayed twice within one batch
        _obs(SignalKind.FAILURE, (1, 5, 1)),  # older call in a packed record: already seen
        _obs(SignalKind.FAILURE, (1, 5, 3)),
        _obs(SignalKind.FAILURE, None),
    ]
    assert fresh(replay, state) == [replay[1], replay[4], replay[5]]
    assert state.marks == {"0": [11, 0], "1": [5, 3]}


def test_calls_refused_during_a_block_are_no_evidence_for_the_next() -> None:
    """A client that keeps retrying while blocked (each retry refused at the gate) is let in
    when the block expires; fresh failures after expiry block it again, as a repeat offender."""
    settings = Settings().detection.model_copy(
        update={
            "brute_force": Settings().detection.brute_force.model_copy(
                update={"threshold": 8, "window_s": 60}
            ),
            "block_durations_s": [6.0, 60.0],
        }
    )
    detector = Detector(settings)
    state = SubjectState.loads(None)
    t0 = 1_700_000_000.0
    first = detector.observe("ip:10.2.2.2", _failures("10.2.2.2", 8, t0), state)
    assert [d.rule for d in first] == ["brute-force"]
    blocked_until = state.until
    refused = SignalBatch(
        observations=[
            Observation(kind=SignalKind.FAILURE, at=t0 + 8 + i / 4, value="10.2.2.2")
            for i in range(20)  # refused retries, four a second, inside the 6 s block
        ]
    )
    assert all(o.at < blocked_until for o in refused.observations)
    assert detector.observe("ip:10.2.2.2", refused, state) == []
    after = _failures("10.2.2.2", 7, blocked_until + 1)  # below the threshold: no block
    assert detector.observe("ip:10.2.2.2", after, state) == []
    again = detector.observe("ip:10.2.2.2", _failures("10.2.2.2", 1, blocked_until + 9), state)
    assert [(d.rule, d.offense) for d in again] == [("brute-force", 2)]
    assert again[0].expires_at is not None
    assert (again[0].expires_at - again[0].issued_at).total_seconds() == 60.0
