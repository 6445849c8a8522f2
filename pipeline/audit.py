"""Building the audit document of one call from its event, classification, check and ruling.

The hot path builds the document as a plain dict in exactly the shape of `schemas.AuditRecord`
(a test holds the two together); `build_audit` gives the typed model where one is wanted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.auth.credentials import Classification, Credential
from pipeline.auth.results import Check, Ruling
from schemas.audit import AuditRecord
from schemas.request import RequestEvent
from schemas.vocabulary import EventOutcome, Outcome, Verdict

AuditDoc = dict[str, Any]

_DENIED_STATUS = frozenset({401, 403, 407})
_GOOD = frozenset({Outcome.VALID, Outcome.NOT_VALIDATED})
_CATEGORY = ("authentication", "web")


def event_outcome(status: int, check: Check, ruling: Ruling) -> EventOutcome:
    """ECS event.outcome: did the authentication succeed?"""
    if status in _DENIED_STATUS or check.outcome not in _GOOD or ruling.verdict is Verdict.BLOCK:
        return EventOutcome.FAILURE
    if status and status < 400:
        return EventOutcome.SUCCESS
    return EventOutcome.UNKNOWN


def credential_doc(c: Credential) -> dict[str, Any]:
    """The storable view of a credential: never its secret."""
    return {
        "scheme": c.scheme,  # orjson writes an enum as its value: no .value lookups per event
        "location": c.location,
        "name": c.name,
        "fingerprint": c.fingerprint,
        "principal": c.principal,
        "issuer": c.issuer,
        "token_id": c.token_id,
        "problem": c.problem,
    }


def audit_document(
    event: RequestEvent, cls: Classification, check: Check, ruling: Ruling, ingested: datetime
) -> AuditDoc:
    """The stored record as a dict, ECS names, ready for orjson."""
    principal = check.principal or cls.principal
    return {
        "@timestamp": event.timestamp.astimezone(UTC),
        "event": {
            "id": event.event_id,
            "kind": "event",
            "category": _CATEGORY,
            "type": ("access",),
            "outcome": event_outcome(event.status, check, ruling),
            "dataset": "restguard.audit",
            "ingested": ingested,
        },
        "source": {"ip": cls.client_ip},
        "user": {"name": principal},
        "url": {"path": event.path, "query": cls.redacted_query},
        "http": {
            "request": {"method": event.method, "id": event.request_id},
            "response": {"status_code": event.status, "bytes": event.bytes},
        },
        "user_agent": {"original": event.user_agent},
        "observer": {"name": event.gateway},
        "restguard": {
            "scheme": cls.scheme,
            "credentials": [credential_doc(c) for c in cls.credentials],
            "principal": principal,
            "fingerprint": cls.fingerprint,
            "token_id": cls.token_id,
            "validation": {"outcome": check.outcome, "reason": check.reason},
            "verdict": ruling.verdict,
            "rule": ruling.rule,
            "credentials_in_url": cls.credentials_in_url,
            "latency_ms": event.latency_ms,
        },
    }


def dumps(doc: AuditDoc) -> bytes:
    """The wire and index form (RFC 3339 times with Z)."""
    return orjson.dumps(doc, option=orjson.OPT_UTC_Z)


def build_audit(
    event: RequestEvent, cls: Classification, check: Check, ruling: Ruling, ingested: datetime
) -> AuditRecord:
    """The typed, validated record."""
    return AuditRecord.model_validate_json(
        dumps(audit_document(event, cls, check, ruling, ingested))
    )
