"""Credential validation: the outcome and one reason for the primary credential of a call."""

from __future__ import annotations

from typing import Protocol

from pipeline.auth.credentials import Classification, Credential
from pipeline.auth.results import Check
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
    }
)


class Validator(Protocol):
    def check(self, cls: Classification) -> Check: ...


def baseline_check(primary: Credential | None) -> Check | None:
    """The outcome that needs no validator at all, or None when a validator must decide."""
    if primary is None:
        return Check(Outcome.NOT_VALIDATED, "no credential")
    if primary.scheme is Scheme.MALFORMED:
        return Check(Outcome.MALFORMED, primary.problem or "malformed credential")
    if primary.location is Location.GATEWAY:
        return Check(Outcome.NOT_VALIDATED, "reported by the gateway; credential not seen")
    if primary.scheme in OFFLINE_UNCHECKABLE:
        return Check(Outcome.NOT_VALIDATED, f"{primary.scheme.value} cannot be checked offline")
    return None


class ShapeOnlyValidator:
    """Validates nothing beyond shape: the stage before issuers and key registries are set up."""

    def check(self, cls: Classification) -> Check:
        base = baseline_check(cls.primary)
        if base is not None:
            return base
        assert cls.primary is not None  # noqa: S101 - baseline_check handles None
        return Check(
            Outcome.NOT_VALIDATED, f"no validator configured for {cls.primary.scheme.value}"
        )
