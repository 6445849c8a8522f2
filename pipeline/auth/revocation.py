"""What the validator asks of the live decisions: is this credential or token revoked?"""

from __future__ import annotations

from typing import Protocol

from schemas.decision import SubjectType


class Revocations(Protocol):
    def revoked(self, subject_type: SubjectType, subject: str) -> str | None:
        """The reason if the subject is revoked now, else None."""
        ...


class NoRevocations:
    def revoked(self, subject_type: SubjectType, subject: str) -> str | None:
        return None
