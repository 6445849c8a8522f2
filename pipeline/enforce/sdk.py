"""The enforcement SDK for gateways written in Python.

    enforcer = Enforcer(load_settings()).start()
    enforcer.wait_synced(10)
    answer = enforcer.check(request_event)
    if not answer.allow: respond(answer.status, answer.reason)

It bootstraps from the compacted decisions topic, follows it live, verifies every decision's
signature, honours expiry, and answers from memory with the same classifier and fingerprints
as the pipeline. When Kafka becomes unreachable it keeps serving the last known decisions and
says so in `status()`; before it has ever synced it follows `enforce.fail_mode`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from pipeline.auth.classify import Classifier
from pipeline.auth.credentials import Classification, Credential
from pipeline.auth.fingerprint import Fingerprinter
from pipeline.core import Processor
from pipeline.decisions.book import Entry
from pipeline.decisions.live import DecisionsView
from pipeline.kafka.compacted import OnChange
from pipeline.settings import fingerprint_secret
from schemas.request import RequestEvent
from schemas.settings import Settings
from schemas.vocabulary import Outcome, Scheme, Verdict

_CREDENTIAL_SUBJECTS = ("credential", "token-id")
_JUDGED = frozenset({Outcome.VALID, Outcome.NOT_VALIDATED})


class Answer(NamedTuple):
    """allow, or the HTTP status (401: the credential is refused; 403: the caller is) and why.
    (A tuple: one is built per check, in microseconds.)"""

    allow: bool
    status: int
    reason: str
    rule: str | None = None
    decision: str | None = None  # the id of the decision that denied
    scheme: str | None = None
    principal: str | None = None


def _token_keys(c: Credential) -> list[str]:
    """A token's decision keys: by (iss, jti) and by (iss, sub)."""
    keys = []
    if c.token_id:
        keys.append("token-id:" + c.token_id)
    if c.claims is not None and c.issuer:
        sub = c.claims.get("sub")
        if isinstance(sub, str):
            keys.append(f"token-id:{c.issuer}#{sub}")
    return keys


def subjects_of(cls: Classification) -> list[str]:
    """Every decision key this request could be denied by, credentials first."""
    keys: list[str] = []
    for c in cls.credentials:
        if c.fingerprint:
            keys.append("credential:" + c.fingerprint)
        keys.extend(_token_keys(c))
    keys.append("ip:" + cls.client_ip)
    if cls.principal:
        keys.append("user:" + cls.principal)
    return keys


class Enforcer:
    def __init__(
        self,
        settings: Settings,
        *,
        processor: Processor | None = None,
        on_change: OnChange[Entry] | None = None,
        decisions: DecisionsView | None = None,
    ) -> None:
        self.settings = settings
        self.classifier = Classifier(
            settings.classifier, Fingerprinter(fingerprint_secret(settings))
        )
        self.processor = processor  # inline policy (validation + policy), if wanted
        self.decisions = decisions or DecisionsView(settings, on_change)
        self.fail_closed = settings.enforce.fail_mode == "closed"

    def start(self) -> Enforcer:
        self.decisions.start()
        return self

    def stop(self) -> None:
        self.decisions.stop()

    def wait_synced(self, timeout: float) -> bool:
        return self.decisions.wait_synced(timeout)

    @property
    def synced(self) -> bool:
        return self.decisions.view.status().synced

    def check(self, event: RequestEvent, now: float | None = None) -> Answer:
        """Decisions first (any live block or revocation on the request's credentials, tokens,
        address or user), then the inline policy if configured."""
        cls = self.classifier.classify(event)
        view = self.decisions.view
        # Scheme is a StrEnum: the member is the string (no .value lookup on the hot path).
        if not view.ready:
            if self.fail_closed:
                return Answer(
                    False,
                    403,
                    "decisions not loaded (fail-closed)",
                    "fail-closed",
                    scheme=cls.scheme,
                )
        else:
            data = view.data
            if data:
                hit = self._lookup(data, cls, time.time() if now is None else now)
                if hit is not None:
                    key, entry = hit
                    status = 401 if key.startswith(_CREDENTIAL_SUBJECTS) else 403
                    return Answer(
                        False,
                        status,
                        f"{entry.action} {key.split(':', 1)[0]}: {entry.reason}",
                        entry.rule,
                        entry.id,
                        cls.scheme,
                        cls.principal,
                    )
        if self.processor is not None:
            return self._inline(event, cls)
        return Answer(True, 200, "allowed", None, None, cls.scheme, cls.principal)

    @staticmethod
    def _lookup(
        data: Mapping[str, Entry], cls: Classification, t: float
    ) -> tuple[str, Entry] | None:
        """The first live decision on any subject of the request (subjects_of's order), by
        plain dict lookups; the common request (one credential, an address, maybe a user)
        builds no list."""
        get = data.get
        for c in cls.credentials:
            if c.fingerprint:
                key = "credential:" + c.fingerprint
                entry = get(key)
                if entry is not None and entry.action != "lift" and t < entry.expires:
                    return key, entry
            if c.token_id or c.claims is not None:
                for key in _token_keys(c):
                    entry = get(key)
                    if entry is not None and entry.action != "lift" and t < entry.expires:
                        return key, entry
        key = "ip:" + cls.client_ip
        entry = get(key)
        if entry is not None and entry.action != "lift" and t < entry.expires:
            return key, entry
        if cls.principal:
            key = "user:" + cls.principal
            entry = get(key)
            if entry is not None and entry.action != "lift" and t < entry.expires:
                return key, entry
        return None

    def _inline(self, event: RequestEvent, cls: Classification) -> Answer:
        assert self.processor is not None  # noqa: S101 - caller checked
        self.processor.prefetch([cls])
        e = self.processor.judge(event, cls)
        principal = e.check.principal or cls.principal
        if e.ruling.verdict is Verdict.BLOCK:
            status = (
                401 if e.check.outcome not in _JUDGED or cls.scheme is Scheme.MALFORMED else 403
            )
            reason = e.check.reason if status == 401 else f"policy: {e.ruling.rule}"
            return Answer(False, status, reason, e.ruling.rule, None, cls.scheme.value, principal)
        return Answer(
            True, 200, e.ruling.verdict.value, e.ruling.rule, None, cls.scheme.value, principal
        )

    def status(self) -> dict[str, Any]:
        s = self.decisions.view.status()  # not on the hot path
        return {
            "synced": s.synced,
            "connected": s.connected,
            "decisions": len(self.decisions.active()),
            "stale_s": None if s.stale_s is None else round(s.stale_s, 1),
            "last_error": s.last_error,
            "rejected": dict(self.decisions.rejections),
            "fail_mode": self.settings.enforce.fail_mode,
        }

    def snapshot(self) -> Mapping[str, Entry]:
        return self.decisions.active()
