"""Detection rules as data: each folder of tests/data/detect holds a config, the request events
and the decisions they must produce (crowdsec-style golden cases)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.auth.fingerprint import Fingerprinter
from pipeline.batch import SourceRecord, judge_records, parse_records
from pipeline.core import build_processor
from pipeline.detect.rules import RULES, Detector, SubjectState
from pipeline.detect.signals import SignalDeriver
from schemas.decision import Decision, SubjectType
from schemas.settings import Settings
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
