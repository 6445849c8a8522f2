"""SignalBatch: what the classify agent reports to detection, keyed by subject (the internal
restguard.signals topic; one record per subject per batch of events)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SignalKind(StrEnum):
    FAILURE = "failure"  # a failed authentication from an IP (key ip:…)
    LOGIN_FAILURE = "login-failure"  # a failed login (key ip:…, and endpoint:login with the IP)
    USER_FAILURE = "user-failure"  # a failed authentication for a user name (key user:…)
    USE = "use"  # a credential or token used from an IP (key credential:… / token-id:…)
    REVOKED_USE = "revoked-use"  # a revoked credential used from an IP (key ip:…)
    POLICY_BLOCK = "policy-block"  # a blocked scheme used with a credential (key credential:…)


class Observation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: SignalKind
    at: float = Field(description="event time, epoch seconds")
    value: str | None = Field(default=None, description="the user name or IP it concerns")
    count: int = Field(default=1, ge=1)
    src: tuple[int, int, int] | None = Field(
        default=None,
        description="the call's requests partition, offset and index in its record: a call "
        "replayed after a crash is recognised and not counted twice",
    )


class SignalBatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    observations: list[Observation]
