"""The live decisions of one receiver: what is blocked or revoked now, by subject.

Merging is monotonic per subject: a decision older than the one already held is a replay and is
refused; a lift removes the subject; expiry is honoured at lookup time, with no message needed.
An unsigned tombstone cannot lift a live block: it only clears lifted or expired subjects.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.decision import Action, Decision, SubjectType

NEVER = float("inf")


@dataclass(frozen=True, slots=True)
class Entry:
    """A compact live decision (a million of them must fit in a few hundred MB)."""

    id: str
    action: str  # block | revoke | lift
    issued: float
    expires: float  # epoch seconds; inf = no expiry
    reason: str
    rule: str
    issuer: str
    offense: int

    @classmethod
    def of(cls, d: Decision) -> Entry:
        return cls(
            id=d.id,
            action=sys.intern(d.action.value),
            issued=d.issued_at.timestamp(),
            expires=d.expires_at.timestamp() if d.expires_at else NEVER,
            reason=d.reason,
            rule=sys.intern(d.rule),
            issuer=sys.intern(d.issuer),
            offense=d.offense,
        )

    def live(self, now: float) -> bool:
        return self.action != "lift" and now < self.expires

    def decision(self, key: str) -> Decision:
        kind, _, subject = key.partition(":")
        return Decision(
            id=self.id,
            subject_type=SubjectType(kind),
            subject=subject,
            action=Action(self.action),
            reason=self.reason,
            rule=self.rule,
            issued_at=datetime.fromtimestamp(self.issued, UTC),
            expires_at=None if self.expires == NEVER else datetime.fromtimestamp(self.expires, UTC),
            issuer=self.issuer,
            offense=self.offense,
        )


class Replay(Exception):
    """The decision is older than the one held for its subject."""


def merge(old: Entry | None, new: Entry) -> Entry:
    """The entry to hold after `new` arrives; Replay if `new` is older than `old`."""
    if old is not None and (new.issued, new.id) < (old.issued, old.id):
        raise Replay(new.id)
    return new


def tombstone_clears(old: Entry | None, now: float) -> bool:
    """A tombstone deletes a subject only once its decision was lifted or has expired."""
    return old is None or not old.live(now)


def subject_key(subject_type: SubjectType | str, subject: str) -> str:
    kind = subject_type.value if isinstance(subject_type, SubjectType) else subject_type
    return f"{kind}:{subject}"
