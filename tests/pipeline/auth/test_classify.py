"""The classifier over every scheme and malformed case (golden cases as data)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.auth.classify import Classifier
from pipeline.auth.credentials import Classification
from pipeline.auth.fingerprint import Fingerprinter
from schemas.request import RequestEvent
from schemas.settings import ClassifierSettings
from schemas.vocabulary import Scheme
from tests.conftest import TEST_SECRET

DATA = Path(__file__).parents[2] / "data" / "classify"


def golden_view(cls: Classification) -> dict[str, Any]:
    """What a golden case pins: everything but the fingerprint values (pinned elsewhere)."""
    return {
        "scheme": cls.scheme.value,
        "principal": cls.principal,
        "client_ip": cls.client_ip,
        "redacted_query": cls.redacted_query,
        "credentials_in_url": cls.credentials_in_url,
        "credentials": [
            {
                "scheme": c.scheme.value,
                "location": c.location.value,
                "name": c.name,
                "principal": c.principal,
                "issuer": c.issuer,
                "token_id": c.token_id,
                "problem": c.problem,
                "fingerprinted": c.fingerprint is not None,
            }
            for c in cls.credentials
        ],
    }


def _cases() -> list[Any]:
    params = []
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        config = tomllib.loads((folder / "config.toml").read_text())
        inputs = (folder / "input.jsonl").read_bytes().splitlines()
        expected = (folder / "expected.jsonl").read_bytes().splitlines()
        assert len(inputs) == len(expected), folder
        for raw, want in zip(inputs, expected, strict=True):
            data = orjson.loads(raw)
            params.append(
                pytest.param(config, data, orjson.loads(want), id=f"{folder.name}/{data['_case']}")
            )
    return params


@pytest.mark.parametrize(("config", "event", "expected"), _cases())
def test_golden_case(
    config: dict[str, Any], event: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Each golden input classifies exactly as its expected line says."""
    classifier = Classifier(
        ClassifierSettings(**config.get("classifier", {})), Fingerprinter(TEST_SECRET)
    )
    got = golden_view(classifier.classify(RequestEvent.model_validate(event)))
    assert {"_case": event["_case"], **got} == expected


def test_every_scheme_has_a_golden_case() -> None:
    """The golden data covers every scheme of the vocabulary."""
    seen = set()
    for line in (DATA / "schemes" / "expected.jsonl").read_bytes().splitlines():
        seen.add(orjson.loads(line)["scheme"])
    assert seen == {s.value for s in Scheme}
