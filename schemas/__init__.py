"""Every contract of restguard: frozen pydantic models, their JSON Schemas, index templates."""

from schemas.audit import AuditRecord, CredentialSeen, RestguardFields, Validation
from schemas.deadletter import DeadLetter
from schemas.decision import Action, Decision, SubjectType
from schemas.request import RequestEvent
from schemas.vocabulary import EventOutcome, Location, Outcome, Scheme, Verdict

__all__ = [
    "Action",
    "AuditRecord",
    "CredentialSeen",
    "DeadLetter",
    "Decision",
    "EventOutcome",
    "Location",
    "Outcome",
    "RequestEvent",
    "RestguardFields",
    "Scheme",
    "SubjectType",
    "Validation",
    "Verdict",
]
