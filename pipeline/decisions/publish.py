"""Issuing decisions by hand (CLI) through the same topic as automatic ones."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime, timedelta

from pipeline.decisions.signing import DecisionSigner
from pipeline.errors import EnforcementError, KafkaUnavailableError
from pipeline.kafka.producer import Producer
from schemas.decision import Action, Decision, SubjectType
from schemas.settings import Settings


def manual_decision(
    subject_type: SubjectType,
    subject: str,
    action: Action,
    reason: str,
    duration: timedelta | None,
    settings: Settings,
    issuer: str,
) -> Decision:
    """A decision typed by an operator; allowlisted subjects are never blocked."""
    det = settings.detection
    if action is not Action.LIFT:
        if subject_type is SubjectType.IP:
            ip = ipaddress.ip_address(subject)
            if any(ip.version == n.version and ip in n for n in det.allowlist_ips):
                raise EnforcementError(f"{subject} is allowlisted (detection.allowlist_ips)")
        if subject_type is SubjectType.USER and subject in det.allowlist_users:
            raise EnforcementError(f"{subject} is allowlisted (detection.allowlist_users)")
    now = datetime.now(UTC)
    return Decision(
        id=uuid.uuid4().hex,
        subject_type=subject_type,
        subject=subject,
        action=action,
        reason=reason,
        rule="manual",
        issued_at=now,
        expires_at=now + duration if duration is not None else None,
        issuer=issuer,
    )


def publish_decisions(
    settings: Settings, decisions: list[Decision], tombstones: list[str] | None = None
) -> None:
    """Sign and write; Kafka must acknowledge every record."""
    signer = DecisionSigner.from_settings(settings.decisions)
    with Producer(settings.kafka) as producer:
        for d in decisions:
            producer.send(settings.topics.decisions, signer.sign(d), key=d.key.encode())
        for key in tombstones or []:
            producer.send(settings.topics.decisions, None, key=key.encode())
        producer.flush()
        expected = len(decisions) + len(tombstones or [])
        if producer.failed or producer.acked != expected:
            raise KafkaUnavailableError(
                settings.kafka.bootstrap, producer.last_error or "not every decision acknowledged"
            )
