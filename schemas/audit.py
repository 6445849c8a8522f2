"""AuditRecord: what restguard stores for each call, in ECS field names plus `restguard.*`.

No field of an AuditRecord may hold a raw credential: credentials appear only as keyed
fingerprints, and credential parameters in `url.query` are redacted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.vocabulary import EventOutcome, Location, Outcome, Scheme, Verdict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class EcsEvent(_Frozen):
    id: str
    kind: Literal["event"] = "event"
    category: list[str] = ["authentication", "web"]
    type: list[str] = ["access"]
    outcome: EventOutcome
    dataset: Literal["restguard.audit"] = "restguard.audit"
    ingested: AwareDatetime | None = None


class EcsSource(_Frozen):
    ip: str


class EcsUser(_Frozen):
    name: str | None = None


class EcsUrl(_Frozen):
    path: str
    query: str | None = None


class EcsHttpRequest(_Frozen):
    method: str
    id: str | None = None


class EcsHttpResponse(_Frozen):
    status_code: int
    bytes: int | None = None


class EcsHttp(_Frozen):
    request: EcsHttpRequest
    response: EcsHttpResponse


class EcsUserAgent(_Frozen):
    original: str | None = None


class EcsObserver(_Frozen):
    name: str | None = None


class CredentialSeen(_Frozen):
    """One credential found in a request: never its value, only where it was and its fingerprint."""

    scheme: Scheme
    location: Location
    name: str = Field(description="header, parameter or cookie name that carried it")
    fingerprint: str | None = Field(
        default=None, description="hmac-sha256:<hex>; null when the credential itself was unseen"
    )
    principal: str | None = None
    issuer: str | None = None
    token_id: str | None = Field(default=None, description="JWT identity: iss#jti")
    problem: str | None = Field(default=None, description="why it is malformed, if it is")


class Validation(_Frozen):
    outcome: Outcome
    reason: str


class RestguardFields(_Frozen):
    scheme: Scheme
    credentials: list[CredentialSeen] = []
    principal: str | None = None
    fingerprint: str | None = None
    token_id: str | None = None
    validation: Validation
    verdict: Verdict = Verdict.ALLOW
    rule: str = "default"
    credentials_in_url: bool = False
    latency_ms: float | None = None


class AuditRecord(_Frozen):
    """One audited REST call."""

    timestamp: AwareDatetime = Field(alias="@timestamp")
    event: EcsEvent
    source: EcsSource
    user: EcsUser
    url: EcsUrl
    http: EcsHttp
    user_agent: EcsUserAgent
    observer: EcsObserver
    restguard: RestguardFields

    def to_json(self) -> bytes:
        """The wire and index form: ECS names (`@timestamp`), no nulls dropped."""
        return self.model_dump_json(by_alias=True).encode()
