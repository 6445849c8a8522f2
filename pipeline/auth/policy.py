"""Auth policy: allow, flag (report-only: recorded and counted, not blocked) or block, with the
rule that decided. Judged in this order, the first that applies wins:

1. `key-restriction`: a registered key used from outside its networks or paths → block;
2. `invalid-credential`: any validation failure (expired, revoked, bad signature …) →
   `policy.invalid_credentials` (block by default);
3. `exception:<name>`: the first exception whose every condition holds (user, OAuth 1.0
   consumer key, IP range, path, scheme) → its verdict;
4. `scheme:<scheme>`: the scheme's verdict from `policy.schemes`;
5. `default`.

Credentials in the URL are then raised to at least `policy.credentials_in_url` (flag), whatever
allowed them: rule `credentials-in-url`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.auth.credentials import Classification
from pipeline.auth.results import Check, Ruling
from schemas.request import RequestEvent
from schemas.settings import PolicyException, PolicySettings
from schemas.vocabulary import Outcome, Verdict

_SEVERITY = {Verdict.ALLOW: 0, Verdict.FLAG: 1, Verdict.BLOCK: 2}
_JUDGED = frozenset({Outcome.VALID, Outcome.NOT_VALIDATED})


@dataclass(frozen=True, slots=True)
class Facts:
    """What the policy looks at: from a live call, or from a stored audit record."""

    scheme: str
    principal: str | None
    consumer_key: str | None
    client_ip: str
    path: str
    outcome: Outcome
    restriction: str | None
    credentials_in_url: bool

    @classmethod
    def of(cls, event: RequestEvent, c: Classification, check: Check) -> Facts:
        primary = c.primary
        return cls(
            scheme=c.scheme.value,
            principal=check.principal or c.principal,
            consumer_key=primary.consumer_key if primary else None,
            client_ip=c.client_ip,
            path=event.path,
            outcome=check.outcome,
            restriction=check.restriction,
            credentials_in_url=c.credentials_in_url,
        )

    @classmethod
    def of_audit(cls, doc: dict[str, Any]) -> Facts:
        rg = doc.get("restguard", {})
        consumer = next(
            (c.get("principal") for c in rg.get("credentials", []) if c.get("scheme") == "oauth1"),
            None,
        )
        return cls(
            scheme=rg.get("scheme", "anonymous"),
            principal=doc.get("user", {}).get("name"),
            consumer_key=consumer,
            client_ip=doc.get("source", {}).get("ip", "0.0.0.0"),  # noqa: S104 - a value, not a bind
            path=doc.get("url", {}).get("path", "/"),
            outcome=Outcome(rg.get("validation", {}).get("outcome", "not-validated")),
            restriction="stored" if rg.get("rule") == "key-restriction" else None,
            credentials_in_url=bool(rg.get("credentials_in_url")),
        )


class Policy(Protocol):
    def rule(self, event: RequestEvent, cls: Classification, check: Check) -> Ruling: ...


def _matches(exc: PolicyException, f: Facts) -> bool:
    if exc.schemes and f.scheme not in exc.schemes:
        return False
    if exc.users and f.principal not in exc.users:
        return False
    if exc.consumer_keys and f.consumer_key not in exc.consumer_keys:
        return False
    if exc.ip_ranges:
        ip = ipaddress.ip_address(f.client_ip)
        if not any(ip.version == n.version and ip in n for n in exc.ip_ranges):
            return False
    return not exc.paths or any(fnmatch.fnmatchcase(f.path, p) for p in exc.paths)


class PolicyEngine:
    """Rulings are immutable: every possible one is built once, so judging a call allocates
    nothing but, when exceptions exist, its Facts."""

    def __init__(self, settings: PolicySettings) -> None:
        self.settings = settings
        s = settings
        self._restricted = Ruling(Verdict.BLOCK, "key-restriction")
        self._invalid = Ruling(Verdict(s.invalid_credentials), "invalid-credential")
        self._default = Ruling(Verdict(s.default), "default")
        self._schemes = {
            name: Ruling(Verdict(v), f"scheme:{name}") for name, v in s.schemes.items()
        }
        self._exceptions = [
            (e, Ruling(Verdict(e.verdict), f"exception:{e.name}")) for e in s.exceptions
        ]
        self._in_url = Ruling(Verdict(s.credentials_in_url), "credentials-in-url")

    def rule(self, event: RequestEvent, cls: Classification, check: Check) -> Ruling:
        if self._exceptions:
            return self.judge(Facts.of(event, cls, check))
        return self._decide(
            cls.scheme, check.outcome, check.restriction, cls.credentials_in_url, None
        )

    def judge(self, f: Facts) -> Ruling:
        return self._decide(f.scheme, f.outcome, f.restriction, f.credentials_in_url, f)

    def _decide(
        self,
        scheme: str,
        outcome: Outcome,
        restriction: str | None,
        in_url: bool,
        facts: Facts | None,
    ) -> Ruling:
        if restriction is not None:
            ruling = self._restricted
        elif outcome not in _JUDGED:
            ruling = self._invalid
        else:
            ruling = self._default
            matched = False
            if facts is not None:
                for exc, exc_ruling in self._exceptions:
                    if _matches(exc, facts):
                        ruling, matched = exc_ruling, True
                        break
            if not matched:
                ruling = self._schemes.get(scheme, self._default)
        if in_url and _SEVERITY[self._in_url.verdict] > _SEVERITY[ruling.verdict]:
            return self._in_url
        return ruling
