"""The enforcement SDK's check(): decisions by subject, expiry, fail modes, inline policy."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.auth.fingerprint import Fingerprinter
from pipeline.core import build_processor
from pipeline.decisions.book import Entry
from pipeline.decisions.live import DecisionsView
from pipeline.decisions.signing import generate_signing_key
from pipeline.enforce.sdk import Enforcer
from schemas.decision import Action, Decision, SubjectType
from schemas.request import RequestEvent
from schemas.settings import Settings
from tests.conftest import TEST_SECRET


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    key = tmp_path / "decisions.pem"
    generate_signing_key(key)
    return Settings.model_validate(
        {
            "secrets": {"fingerprint_secret": TEST_SECRET.decode()},
            "decisions": {"signing_key_file": str(key)},
            "policy": {
                "schemes": {"basic": "block"},
                "exceptions": [{"name": "ci", "users": ["svc-ci"], "schemes": ["basic"]}],
            },
        }
    )


def entry(
    kind: SubjectType, subject: str, action: Action = Action.BLOCK, minutes: float = 10
) -> tuple[str, Entry]:
    now = datetime.now(UTC)
    d = Decision(
        id=uuid.uuid4().hex,
        subject_type=kind,
        subject=subject,
        action=action,
        reason="test",
        rule="manual",
        issued_at=now,
        expires_at=now + timedelta(minutes=minutes),
        issuer="test",
    )
    return d.key, Entry.of(d)


def enforcer(
    settings: Settings,
    entries: list[tuple[str, Entry]],
    *,
    synced: bool = True,
    inline: bool = False,
) -> Enforcer:
    view = DecisionsView(settings)
    if synced:
        view.view.load(dict(entries))
    processor = build_processor(settings, TEST_SECRET) if inline else None
    return Enforcer(settings, processor=processor, decisions=view)


def request(ip: str = "198.51.100.7", **headers: str) -> RequestEvent:
    return RequestEvent.model_validate(
        {
            "timestamp": datetime.now(UTC).isoformat(),
            "method": "GET",
            "path": "/rest/api/2/myself",
            "status": 0,
            "client_ip": ip,
            "headers": headers,
        }
    )


BASIC = "Basic " + base64.b64encode(b"alice:s3cret").decode()


class TestDecisions:
    def test_no_decision_allows(self, settings: Settings) -> None:
        """Nothing decided about the request: allowed."""
        assert enforcer(settings, []).check(request()).allow

    def test_blocked_ip_is_403(self, settings: Settings) -> None:
        """A live block on the address denies with 403 and the decision's id."""
        e = enforcer(settings, [entry(SubjectType.IP, "198.51.100.7")])
        answer = e.check(request())
        assert (answer.allow, answer.status, answer.rule) == (False, 403, "manual")
        assert answer.decision is not None
        assert e.check(request(ip="198.51.100.8")).allow

    def test_revoked_credential_is_401(self, settings: Settings) -> None:
        """A revoked credential (by fingerprint) is refused with 401, from any address."""
        fp = Fingerprinter(TEST_SECRET)("alice:s3cret")
        e = enforcer(settings, [entry(SubjectType.CREDENTIAL, fp, Action.REVOKE)])
        answer = e.check(request(ip="10.9.9.9", authorization=BASIC))
        assert (answer.allow, answer.status) == (False, 401)

    def test_blocked_user(self, settings: Settings) -> None:
        """A blocked user is refused whatever credential they use."""
        e = enforcer(settings, [entry(SubjectType.USER, "alice")])
        assert e.check(request(authorization=BASIC)).status == 403

    def test_expired_decision_no_longer_applies(self, settings: Settings) -> None:
        """Expiry is honoured without any message."""
        e = enforcer(settings, [entry(SubjectType.IP, "198.51.100.7", minutes=1)])
        assert not e.check(request()).allow
        assert e.check(request(), now=time.time() + 120).allow

    def test_lift_allows(self, settings: Settings) -> None:
        """A lift in force means no block."""
        e = enforcer(settings, [entry(SubjectType.IP, "198.51.100.7", Action.LIFT)])
        assert e.check(request()).allow


class TestFailModes:
    def test_fail_open_before_sync(self, settings: Settings) -> None:
        """Never synced and fail-open: allowed (the gateway keeps working)."""
        assert enforcer(settings, [], synced=False).check(request()).allow

    def test_fail_closed_before_sync(self, settings: Settings) -> None:
        """Never synced and fail-closed: denied, saying why."""
        closed = settings.model_copy(
            update={"enforce": settings.enforce.model_copy(update={"fail_mode": "closed"})}
        )
        answer = enforcer(closed, [], synced=False).check(request())
        assert (answer.allow, answer.rule) == (False, "fail-closed")


class TestInlinePolicy:
    def test_basic_blocked_by_policy(self, settings: Settings) -> None:
        """With inline policy, Basic is refused where the policy blocks it."""
        answer = enforcer(settings, [], inline=True).check(request(authorization=BASIC))
        assert (answer.allow, answer.status, answer.rule) == (False, 403, "scheme:basic")

    def test_policy_exception_passes(self, settings: Settings) -> None:
        """An exception of the policy lets its user through."""
        ci = "Basic " + base64.b64encode(b"svc-ci:pw").decode()
        answer = enforcer(settings, [], inline=True).check(request(authorization=ci))
        assert answer.allow

    def test_malformed_credential_is_401(self, settings: Settings) -> None:
        """A broken credential is an authentication failure (401)."""
        answer = enforcer(settings, [], inline=True).check(request(authorization="Basic !!!"))
        assert (answer.allow, answer.status) == (False, 401)
