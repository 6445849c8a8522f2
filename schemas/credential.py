"""CredentialEvent: one fact of the key registry (restguard API keys, registered PATs).

The registry is a compacted Kafka topic keyed by the credential's fingerprint; the latest
event per key is its state. The secret itself is never in it: only its keyed fingerprint."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, IPvAnyNetwork


class CredentialKind(StrEnum):
    API_KEY = "api-key"
    PAT = "pat"


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class CredentialEvent(BaseModel):
    """The state of one registered credential."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: str = Field(pattern=r"^hmac-sha256:[0-9a-f]{32}$")
    key_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    kind: CredentialKind
    user: str = Field(min_length=1, max_length=256)
    scopes: list[str] = []
    ip_ranges: list[IPvAnyNetwork] = Field(
        default=[], description="if set, the key is only valid from these networks"
    )
    paths: list[str] = Field(
        default=[], description="if set, the key is only valid on these path patterns (globs)"
    )
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    status: CredentialStatus = CredentialStatus.ACTIVE
    revoked_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=1024)
    replaced_by: str | None = Field(default=None, description="key id of its rotation successor")
    description: str | None = Field(default=None, max_length=1024)
