"""The pure pipeline core: RequestEvent in, AuditRecord out. Shared by agents, `check` and
enforcement points; no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.audit import AuditDoc, audit_document
from pipeline.auth.classify import Classifier
from pipeline.auth.credentials import Classification
from pipeline.auth.fingerprint import Fingerprinter
from pipeline.auth.policy import AllowAll, Policy
from pipeline.auth.results import Check, Ruling
from pipeline.auth.validate import ShapeOnlyValidator, Validator
from schemas.request import RequestEvent
from schemas.settings import Settings


class Processor:
    """classify → validate → policy for one event at a time."""

    def __init__(self, classifier: Classifier, validator: Validator, policy: Policy) -> None:
        self.classifier = classifier
        self.validator = validator
        self.policy = policy

    def evaluate(self, event: RequestEvent) -> tuple[Classification, Check, Ruling]:
        cls = self.classifier.classify(event)
        check = self.validator.check(cls)
        return cls, check, self.policy.rule(event, cls, check)

    def process(self, event: RequestEvent, now: datetime | None = None) -> AuditDoc:
        cls, check, ruling = self.evaluate(event)
        return audit_document(event, cls, check, ruling, now or datetime.now(UTC))


def build_processor(settings: Settings, secret: bytes) -> Processor:
    """The processor the settings describe."""
    classifier = Classifier(settings.classifier, Fingerprinter(secret))
    return Processor(classifier, ShapeOnlyValidator(), AllowAll())
