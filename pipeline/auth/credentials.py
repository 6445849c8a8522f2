"""In-memory credential types. `secret` holds raw material and must never be serialised."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from schemas.audit import CredentialSeen
from schemas.vocabulary import Location, Scheme


@dataclass(frozen=True, slots=True)
class Credential:
    """One credential found in a request.

    `secret` is the raw material (token, "user:password", cookie value) kept only in memory
    for validation; `repr` hides it and `seen()` drops it.
    """

    scheme: Scheme
    location: Location
    name: str
    secret: str = field(default="", repr=False)
    fingerprint: str | None = None
    principal: str | None = None
    issuer: str | None = None
    token_id: str | None = None
    problem: str | None = None
    # Unverified JWT parts or OAuth 1.0 parameters, for validators and policy (never stored).
    header: dict[str, Any] | None = field(default=None, repr=False)
    claims: dict[str, Any] | None = field(default=None, repr=False)
    consumer_key: str | None = None

    def seen(self) -> CredentialSeen:
        """The storable view: scheme, where, fingerprint, identity; never the secret."""
        return CredentialSeen.model_construct(
            scheme=self.scheme,
            location=self.location,
            name=self.name,
            fingerprint=self.fingerprint,
            principal=self.principal,
            issuer=self.issuer,
            token_id=self.token_id,
            problem=self.problem,
        )


class Classification(NamedTuple):
    """Every credential in a request, the primary one, and what can be read without a secret.
    (A tuple: one is built per call, and a frozen dataclass costs ~5x as much to build.)"""

    scheme: Scheme
    credentials: tuple[Credential, ...]
    primary: Credential | None
    principal: str | None
    client_ip: str
    redacted_query: str | None
    credentials_in_url: bool

    @property
    def fingerprint(self) -> str | None:
        return self.primary.fingerprint if self.primary else None

    @property
    def token_id(self) -> str | None:
        return self.primary.token_id if self.primary else None
