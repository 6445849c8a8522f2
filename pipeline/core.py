"""The pure pipeline core: RequestEvents in, audit documents out. Shared by the agents, `check`
and the enforcement points; the only I/O is `prefetch` (issuer keys, token introspection)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from pipeline.audit import AuditDoc, audit_document
from pipeline.auth.bearer import JwtVerifier
from pipeline.auth.classify import Classifier
from pipeline.auth.credentials import Classification
from pipeline.auth.fingerprint import Fingerprinter
from pipeline.auth.introspect import Introspector
from pipeline.auth.jwks import Fetch, JwksStore, http_get
from pipeline.auth.policy import Policy, PolicyEngine
from pipeline.auth.results import Check, Ruling
from pipeline.auth.revocation import Revocations
from pipeline.auth.scopes import ScopeRules
from pipeline.auth.validate import CredentialValidator, Validator
from schemas.credential import CredentialEvent
from schemas.request import RequestEvent
from schemas.settings import Settings


class Evaluated(NamedTuple):
    """One judged call (a tuple: one is built per call)."""

    event: RequestEvent
    cls: Classification
    check: Check
    ruling: Ruling


class Processor:
    """classify → validate → policy."""

    def __init__(self, classifier: Classifier, validator: Validator, policy: Policy) -> None:
        self.classifier = classifier
        self.validator = validator
        self.policy = policy

    def prefetch(self, classes: Sequence[Classification]) -> None:
        """The I/O a batch may need first (keys for an unknown kid, introspection)."""
        self.validator.prefetch(classes)

    def classify(self, events: Sequence[RequestEvent]) -> list[Classification]:
        classify = self.classifier.classify
        return [classify(e) for e in events]

    def judge(self, event: RequestEvent, cls: Classification) -> Evaluated:
        check = self.validator.check(event, cls)
        return Evaluated(event, cls, check, self.policy.rule(event, cls, check))

    def evaluate(self, event: RequestEvent) -> tuple[Classification, Check, Ruling]:
        """One event, prefetch included (for `check` and enforcement points)."""
        cls = self.classifier.classify(event)
        self.validator.prefetch([cls])
        e = self.judge(event, cls)
        return e.cls, e.check, e.ruling

    def process(self, event: RequestEvent, now: datetime | None = None) -> AuditDoc:
        cls, check, ruling = self.evaluate(event)
        return audit_document(event, cls, check, ruling, now or datetime.now(UTC))


def build_processor(
    settings: Settings,
    secret: bytes,
    *,
    registry: Mapping[str, CredentialEvent] | None = None,
    revocations: Revocations | None = None,
    fetch: Fetch = http_get,
) -> Processor:
    """The processor the settings describe. A key file that cannot be read is a ConfigError."""
    v = settings.validation
    jwt = JwtVerifier(JwksStore(v, fetch), v.verified_cache_size) if v.issuers else None
    validator = CredentialValidator(
        jwt=jwt,
        registry=registry,
        introspector=Introspector(v.introspection) if v.introspection else None,
        scope_rules=ScopeRules(v.scope_rules),
        revocations=revocations,
        require_registered_pats=v.require_registered_pats,
    )
    classifier = Classifier(settings.classifier, Fingerprinter(secret))
    return Processor(classifier, validator, PolicyEngine(settings.policy))
