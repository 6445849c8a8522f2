"""Fixtures for validation tests: a real local identity provider and processors wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.auth.results import Check, Ruling
from pipeline.auth.revocation import Revocations
from pipeline.core import Processor, build_processor
from schemas.credential import CredentialEvent
from schemas.decision import SubjectType
from schemas.request import RequestEvent
from schemas.settings import Settings
from tests.conftest import TEST_SECRET
from tests.idp import CLIENT_ID, CLIENT_SECRET, IdentityProvider


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider().start()
    yield provider
    provider.stop()


def validation_settings(idp: IdentityProvider, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "validation": {
            "issuers": [
                {
                    "issuer": idp.issuer,
                    "audiences": ["jira"],
                    "algorithms": ["RS256", "ES256", "EdDSA"],
                    "leeway_s": 0,
                }
            ],
            "scope_rules": [
                {
                    "methods": ["POST", "PUT", "DELETE"],
                    "path": "/rest/api/2/*",
                    "scopes": ["write:jira"],
                },
            ],
            "introspection": {
                "endpoint": f"{idp.issuer}/introspect",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            "jwks_min_refetch_s": 5,
        },
    }
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    return Settings.model_validate(data)


class SetRevocations:
    def __init__(self) -> None:
        self.subjects: dict[tuple[SubjectType, str], str] = {}

    def revoked(self, subject_type: SubjectType, subject: str) -> str | None:
        return self.subjects.get((subject_type, subject))


Judge = Callable[..., tuple[Check, Ruling]]


@pytest.fixture
def revocations() -> SetRevocations:
    return SetRevocations()


@pytest.fixture
def registry() -> dict[str, CredentialEvent]:
    return {}


@pytest.fixture
def make_processor(
    idp: IdentityProvider, revocations: SetRevocations, registry: dict[str, CredentialEvent]
) -> Callable[..., Processor]:
    def make(**extra: Any) -> Processor:
        rev: Revocations = revocations
        return build_processor(
            validation_settings(idp, **extra), TEST_SECRET, registry=registry, revocations=rev
        )

    return make


@pytest.fixture
def judge(make_processor: Callable[..., Processor]) -> Judge:
    processor = make_processor()

    def run(
        headers: dict[str, str] | None = None,
        *,
        method: str = "GET",
        path: str = "/rest/api/2/myself",
        at: datetime | None = None,
        client_ip: str = "10.0.0.1",
        query: str | None = None,
    ) -> tuple[Check, Ruling]:
        event = RequestEvent.model_validate(
            {
                "timestamp": (at or datetime.now(UTC)).isoformat(),
                "method": method,
                "path": path,
                "status": 200,
                "client_ip": client_ip,
                "headers": headers or {},
                "query": query,
            }
        )
        _, check, ruling = processor.evaluate(event)
        return check, ruling

    run.processor = processor  # type: ignore[attr-defined]
    return run
