"""Auth policy: allow, flag (report-only) or block, with the rule that decided."""

from __future__ import annotations

from typing import Protocol

from pipeline.auth.credentials import Classification
from pipeline.auth.results import Check, Ruling
from schemas.request import RequestEvent
from schemas.vocabulary import Verdict


class Policy(Protocol):
    def rule(self, event: RequestEvent, cls: Classification, check: Check) -> Ruling: ...


class AllowAll:
    """The policy before any is configured: everything allowed, credentials in URLs flagged."""

    def rule(self, event: RequestEvent, cls: Classification, check: Check) -> Ruling:
        if cls.credentials_in_url:
            return Ruling(Verdict.FLAG, "credentials-in-url")
        return Ruling(Verdict.ALLOW, "default")
