"""Merging decisions: monotonic per subject, lifts and expiries, tombstones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.decisions.book import NEVER, Entry, Replay, merge, tombstone_clears
from schemas.decision import Action, Decision, SubjectType

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(
    action: Action, minutes: float, *, expires: float | None = 10, id: str = "x" * 16
) -> Entry:
    issued = T0 + timedelta(minutes=minutes)
    return Entry.of(
        Decision(
            id=id,
            subject_type=SubjectType.IP,
            subject="203.0.113.9",
            action=action,
            reason="r",
            rule="t",
            issued_at=issued,
            expires_at=None if expires is None else issued + timedelta(minutes=expires),
            issuer="restguard",
        )
    )


def test_newer_replaces_older() -> None:
    """A later decision wins."""
    assert merge(entry(Action.BLOCK, 0), entry(Action.LIFT, 1)).action == "lift"


def test_replay_of_an_older_decision_is_refused() -> None:
    """Re-sending an old (validly signed) lift after a newer block is a replay."""
    with pytest.raises(Replay):
        merge(entry(Action.BLOCK, 5), entry(Action.LIFT, 1))


def test_live_until_expiry() -> None:
    """Expiry is honoured at lookup; no message needed."""
    e = entry(Action.BLOCK, 0, expires=10)
    assert e.live((T0 + timedelta(minutes=9)).timestamp())
    assert not e.live((T0 + timedelta(minutes=10)).timestamp())
    assert entry(Action.REVOKE, 0, expires=None).expires == NEVER


def test_a_lift_is_not_live() -> None:
    """A lifted subject is not blocked."""
    assert not entry(Action.LIFT, 0).live(T0.timestamp())


def test_unsigned_tombstone_cannot_lift_a_live_block() -> None:
    """A tombstone clears only lifted or expired subjects."""
    now = (T0 + timedelta(minutes=1)).timestamp()
    assert not tombstone_clears(entry(Action.BLOCK, 0), now)
    assert tombstone_clears(entry(Action.LIFT, 0), now)
    assert tombstone_clears(entry(Action.BLOCK, 0, expires=0.5), now)
    assert tombstone_clears(None, now)


def test_round_trip_to_decision() -> None:
    """A compact entry gives back its decision."""
    e = entry(Action.BLOCK, 0)
    d = e.decision("ip:203.0.113.9")
    assert (d.subject_type, d.subject, d.action) == (SubjectType.IP, "203.0.113.9", Action.BLOCK)
