"""Credential validation: the outcome and its one reason for the primary credential of a call.

`check` is pure (it reads caches and the registry); `prefetch` is the only I/O: it refreshes an
issuer's keys when a token names an unknown `kid` (rate-limited) and introspects opaque tokens
not yet cached. Agents call `prefetch` for a batch before checking it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from pipeline.auth.bearer import JwtVerifier
from pipeline.auth.credentials import Classification, Credential
from pipeline.auth.introspect import Introspector
from pipeline.auth.keys import check_registered
from pipeline.auth.results import Check
from pipeline.auth.revocation import NoRevocations, Revocations
from pipeline.auth.scopes import ScopeRules
from schemas.credential import CredentialEvent
from schemas.decision import SubjectType
from schemas.request import RequestEvent
from schemas.vocabulary import Location, Outcome, Scheme

# Schemes whose credential cannot be checked without the identity store behind Jira.
OFFLINE_UNCHECKABLE = frozenset(
    {
        Scheme.BASIC,
        Scheme.BASIC_QUERY,
        Scheme.SESSION_COOKIE,
        Scheme.NEGOTIATE,
        Scheme.NTLM,
        Scheme.DIGEST,
        Scheme.OAUTH1,
    }
)
_JUDGED = frozenset({Outcome.VALID, Outcome.NOT_VALIDATED})


class Validator(Protocol):
    def prefetch(self, items: Iterable[Classification]) -> None: ...
    def check(self, event: RequestEvent, cls: Classification) -> Check: ...


_NO_CREDENTIAL = Check(Outcome.NOT_VALIDATED, "no credential")
_UNJUDGED = {
    scheme: Check(
        Outcome.NOT_VALIDATED,
        f"{scheme.value} cannot be checked offline"
        if scheme in OFFLINE_UNCHECKABLE
        else f"no validator for {scheme.value}",
    )
    for scheme in Scheme
}


def baseline_check(primary: Credential | None) -> Check | None:
    """The outcome that needs no validator at all, or None when a validator must decide."""
    if primary is None:
        return _NO_CREDENTIAL
    if primary.scheme is Scheme.MALFORMED:
        return Check(Outcome.MALFORMED, primary.problem or "malformed credential")
    if primary.location is Location.GATEWAY:
        return Check(
            Outcome.NOT_VALIDATED, "reported by the gateway; credential not seen", primary.principal
        )
    return None


Judge = Callable[[RequestEvent, Credential], Check]


class CredentialValidator:
    """Validates the primary credential by scheme (a registry of judges), then applies
    revocations and the scope rules."""

    def __init__(
        self,
        jwt: JwtVerifier | None = None,
        registry: Mapping[str, CredentialEvent] | None = None,
        introspector: Introspector | None = None,
        scope_rules: ScopeRules | None = None,
        revocations: Revocations | None = None,
        require_registered_pats: bool = False,
    ) -> None:
        self.jwt = jwt
        self.registry: Mapping[str, CredentialEvent] = registry if registry is not None else {}
        self.introspector = introspector
        self.scopes = scope_rules or ScopeRules([])
        self.revocations: Revocations = revocations or NoRevocations()
        # No revocation source at all: skip building subject keys for every call.
        self._revocations_live = not isinstance(self.revocations, NoRevocations)
        self.require_registered_pats = require_registered_pats
        self._valid_keys: dict[str, tuple[CredentialEvent, Check]] = {}
        self.judges: dict[Scheme, Judge] = {
            Scheme.BEARER_JWT: self._jwt,
            Scheme.API_KEY: self._api_key,
            Scheme.PAT: self._pat,
            Scheme.BEARER_OPAQUE: self._opaque,
        }

    # -- I/O before a batch ------------------------------------------------------------------

    def prefetch(self, items: Iterable[Classification]) -> None:
        issuers: set[str] = set()
        opaque: list[str] = []
        for cls in items:
            p = cls.primary
            if p is None:
                continue
            if p.scheme is Scheme.BEARER_JWT and self.jwt is not None:
                wanted = self.jwt.wanted_key(p)
                if wanted:
                    issuers.add(wanted)
            elif (
                p.scheme is Scheme.BEARER_OPAQUE
                and self.introspector is not None
                and self.introspector.wanted(p.secret)
            ):
                opaque.append(p.secret)
        if self.jwt is not None:
            for issuer in issuers:
                self.jwt.store.refresh(issuer)
        if opaque and self.introspector is not None:
            self.introspector.fetch_many(opaque)

    # -- pure --------------------------------------------------------------------------------

    def check(self, event: RequestEvent, cls: Classification) -> Check:
        primary = cls.primary
        if primary is None:
            return _NO_CREDENTIAL
        base = baseline_check(primary)
        if base is not None:
            return base
        if self._revocations_live:
            revoked = self._revoked(primary)
            if revoked is not None:
                return revoked
        judge = self.judges.get(primary.scheme)
        if judge is None:
            return _UNJUDGED[primary.scheme]
        check = judge(event, primary)
        if check.outcome is Outcome.VALID:
            missing = self.scopes.missing(event.method, event.path, check.scopes)
            if missing:
                return Check(
                    Outcome.INSUFFICIENT_SCOPE,
                    f"missing scope {', '.join(sorted(missing))}",
                    check.principal,
                    check.expires_at,
                    check.scopes,
                )
        return check

    def _revoked(self, cred: Credential) -> Check | None:
        subjects = [
            (SubjectType.CREDENTIAL, cred.fingerprint),
            (SubjectType.TOKEN_ID, cred.token_id),
        ]
        if cred.scheme is Scheme.BEARER_JWT and cred.issuer and cred.claims:
            sub = cred.claims.get("sub")
            if isinstance(sub, str):
                subjects.append((SubjectType.TOKEN_ID, f"{cred.issuer}#{sub}"))
        for kind, subject in subjects:
            if subject:
                reason = self.revocations.revoked(kind, subject)
                if reason is not None:
                    return Check(
                        Outcome.REVOKED, f"{kind.value} revoked: {reason}"[:300], cred.principal
                    )
        return None

    def _jwt(self, event: RequestEvent, cred: Credential) -> Check:
        if self.jwt is None:
            return Check(Outcome.UNKNOWN_ISSUER, "no trusted issuers are configured")
        check, _ = self.jwt.check(cred, event.timestamp)
        return check

    def _registered(self, event: RequestEvent, cred: Credential) -> Check:
        record = self.registry.get(cred.fingerprint or "")
        cached = self._valid_keys.get(cred.fingerprint or "")
        if (
            cached is not None
            and cached[0] is record
            and not record.ip_ranges
            and not record.paths
            and (record.expires_at is None or event.timestamp < record.expires_at)
        ):
            return cached[1]  # the same active, unrestricted record as last time
        result = check_registered(cred, self.registry, event.timestamp, event.client_ip, event.path)
        if record is not None and result.check.outcome is Outcome.VALID and cred.fingerprint:
            self._valid_keys[cred.fingerprint] = (record, result.check)
        check = result.check
        if result.restriction is not None:
            return Check(
                check.outcome,
                check.reason,
                check.principal,
                check.expires_at,
                check.scopes,
                result.restriction,
            )
        return check

    def _api_key(self, event: RequestEvent, cred: Credential) -> Check:
        if cred.token_id is None:  # not a restguard key: the service behind judges it
            return Check(Outcome.NOT_VALIDATED, "not a restguard key")
        return self._registered(event, cred)

    def _pat(self, event: RequestEvent, cred: Credential) -> Check:
        if not self.require_registered_pats and (cred.fingerprint or "") not in self.registry:
            return Check(Outcome.NOT_VALIDATED, "personal access token not registered here")
        return self._registered(event, cred)

    def _opaque(self, event: RequestEvent, cred: Credential) -> Check:
        if self.introspector is None:
            return Check(Outcome.NOT_VALIDATED, "no introspection endpoint configured")
        return self.introspector.check(cred.secret, event.timestamp)


def is_failure(check: Check) -> bool:
    """True for every outcome that means the credential must not be accepted."""
    return check.outcome not in _JUDGED
