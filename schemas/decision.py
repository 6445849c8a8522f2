"""Decision: an immutable, expiring fact that enforcement points act on."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class SubjectType(StrEnum):
    IP = "ip"
    CREDENTIAL = "credential"  # a credential fingerprint
    USER = "user"
    TOKEN_ID = "token-id"  # noqa: S105 - a JWT identity (iss#jti or iss#sub), not a secret


class Action(StrEnum):
    BLOCK = "block"
    REVOKE = "revoke"
    LIFT = "lift"


class Decision(BaseModel):
    """A block, revocation or lift of one subject. Never edited: a change is a new decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    subject_type: SubjectType
    subject: str = Field(min_length=1, max_length=1024)
    action: Action
    reason: str = Field(max_length=1024)
    rule: str = Field(max_length=256)
    issued_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    issuer: str = Field(max_length=256)
    offense: int = Field(default=1, ge=1, description="repeat count, for escalating durations")
    observed_at: AwareDatetime | None = Field(
        default=None, description="event time of the evidence (detections only)"
    )

    @property
    def key(self) -> str:
        """The compacted topic's key: one live decision per subject."""
        return f"{self.subject_type.value}:{self.subject}"
