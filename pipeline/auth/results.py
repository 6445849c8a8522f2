"""Results of the validation and policy stages (in memory; the AuditRecord stores them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.vocabulary import Outcome, Verdict


@dataclass(frozen=True, slots=True)
class Check:
    """A validation outcome with its one reason, and what a valid credential told us."""

    outcome: Outcome
    reason: str
    principal: str | None = None
    expires_at: datetime | None = None
    scopes: frozenset[str] = frozenset()
    restriction: str | None = None  # a registered key used outside its allowed ranges or paths


@dataclass(frozen=True, slots=True)
class Ruling:
    """A policy verdict and the rule that decided it."""

    verdict: Verdict
    rule: str
