"""Detection rules (a registry) and the detector that runs them over one subject's state.

Windows run on event time, so replaying an hour of logs in seconds detects exactly what live
traffic would have. Decisions run on wall time: once issued, a block lasts its full duration
however far behind the stream is. Each subject's n-th offense within `offense_memory_s` lasts
`block_durations_s[n-1]`; allowlisted addresses and users are never blocked.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from pipeline.detect.window import (
    CountWindow,
    DistinctWindow,
    dump_count,
    dump_distinct,
    load_count,
    load_distinct,
)
from schemas.decision import Action, Decision, SubjectType
from schemas.settings import DetectionSettings, ThresholdRule
from schemas.signal import Observation, SignalBatch, SignalKind


@dataclass(frozen=True)
class Rule:
    name: str
    consumes: SignalKind
    subjects: tuple[str, ...]  # key prefixes the rule applies to
    measure: Literal["count", "distinct"]
    action: Action
    setting: str  # the ThresholdRule attribute of DetectionSettings
    reason: str  # format with n (measured) and w (window seconds)


RULES: list[Rule] = []


def register_rule(rule: Rule) -> Rule:
    RULES.append(rule)
    return rule


register_rule(
    Rule(
        "brute-force",
        SignalKind.FAILURE,
        ("ip",),
        "count",
        Action.BLOCK,
        "brute_force",
        "{n} failed authentications in {w:.0f}s",
    )
)
register_rule(
    Rule(
        "slow-brute-force",
        SignalKind.LOGIN_FAILURE,
        ("ip",),
        "count",
        Action.BLOCK,
        "slow_brute_force",
        "{n} failed logins in {w:.0f}s",
    )
)
register_rule(
    Rule(
        "password-spray",
        SignalKind.FAILURE,
        ("ip",),
        "distinct",
        Action.BLOCK,
        "spray",
        "{n} different user names failed in {w:.0f}s",
    )
)
register_rule(
    Rule(
        "credential-stuffing",
        SignalKind.USER_FAILURE,
        ("user",),
        "distinct",
        Action.BLOCK,
        "user_stuffing",
        "failed from {n} addresses in {w:.0f}s",
    )
)
register_rule(
    Rule(
        "leaked-credential",
        SignalKind.USE,
        ("credential", "token-id"),
        "distinct",
        Action.REVOKE,
        "leaked_credential",
        "used from {n} addresses in {w:.0f}s",
    )
)
register_rule(
    Rule(
        "revoked-credential-reuse",
        SignalKind.REVOKED_USE,
        ("ip",),
        "count",
        Action.BLOCK,
        "revoked_reuse",
        "{n} uses of revoked credentials in {w:.0f}s",
    )
)
register_rule(
    Rule(
        "blocked-scheme",
        SignalKind.POLICY_BLOCK,
        ("credential",),
        "count",
        Action.BLOCK,
        "policy_block",
        "{n} uses of a scheme the policy blocks",
    )
)


@dataclass
class SubjectState:
    """One subject's windows, its active decision and its offense history (JSON in a table)."""

    windows: dict[str, Any]
    now: float = 0.0  # latest event time seen
    until: float = 0.0  # event time until which a decision is in force
    offenses: int = 0
    last_offense: float = 0.0
    applied: int = -1  # the last signals-topic offset folded in (a replay skips up to it)
    # per requests partition, the last call (offset, index) folded in (a replayed call is skipped)
    marks: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def loads(cls, raw: bytes | None) -> SubjectState:
        if not raw:
            return cls({})
        d = orjson.loads(raw)
        return cls(
            d.get("w", {}),
            d.get("n", 0.0),
            d.get("u", 0.0),
            d.get("o", 0),
            d.get("l", 0.0),
            d.get("a", -1),
            d.get("m", {}),
        )

    def dumps(self) -> bytes:
        return orjson.dumps(
            {
                "w": self.windows,
                "n": self.now,
                "u": self.until,
                "o": self.offenses,
                "l": self.last_offense,
                "a": self.applied,
                "m": self.marks,
            }
        )


def fresh(observations: list[Observation], state: SubjectState) -> list[Observation]:
    """The observations not yet folded into the state, judged by their calls' partition and
    offset (a call replayed after a crash is skipped, also when it comes twice in one batch),
    and the state's marks moved past them. Observations without a source always count."""
    before = state.marks
    after = dict(before)
    seen: set[tuple[Any, ...]] = set()
    out = []
    for o in observations:
        if o.src is None:
            out.append(o)
            continue
        partition, offset, index = o.src
        key = str(partition)
        mark = before.get(key)
        if mark is not None and (offset, index) <= (mark[0], mark[1]):
            continue
        ident = (o.kind, o.src, o.value, o.at)
        if ident in seen:
            continue
        seen.add(ident)
        out.append(o)
        top = after.get(key)
        if top is None or (offset, index) > (top[0], top[1]):
            after[key] = [offset, index]
    state.marks = after
    return out


def decision_id(*parts: object) -> str:
    """The same decision from the same evidence gets the same id: a replay after a crash
    re-issues it under its first id, and every receiver (and the index) keeps one."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


class Detector:
    def __init__(
        self,
        settings: DetectionSettings,
        issuer: str = "restguard",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.issuer = issuer
        self.clock = clock

    def _rule_settings(self, rule: Rule) -> ThresholdRule:
        value = getattr(self.settings, rule.setting)
        assert isinstance(value, ThresholdRule)  # noqa: S101 - the registry names real settings
        return value

    def allowlisted(self, kind: str, subject: str) -> bool:
        if kind == "ip":
            try:
                ip = ipaddress.ip_address(subject)
            except ValueError:
                return False
            return any(ip.version == n.version and ip in n for n in self.settings.allowlist_ips)
        return kind == "user" and subject in self.settings.allowlist_users

    def observe(self, key: str, batch: SignalBatch, state: SubjectState) -> list[Decision]:
        """Fold a subject's new observations into its state; the decisions they warrant."""
        kind, _, subject = key.partition(":")
        if kind == "endpoint":
            return self._campaign(batch, state)
        fired: list[tuple[Rule, int, float]] = []
        for rule in RULES:
            if kind not in rule.subjects:
                continue
            cfg = self._rule_settings(rule)
            if not cfg.enabled:
                continue
            # Calls made while the subject was blocked were refused at the gate: they are not
            # evidence for the next block (else a client retrying through a block stays blocked).
            obs = [o for o in batch.observations if o.kind is rule.consumes and o.at >= state.until]
            if not obs:
                continue
            state.now = max(state.now, max(o.at for o in obs))
            measured = self._measure(rule, cfg, obs, state)
            if measured >= cfg.threshold:
                fired.append((rule, measured, cfg.window_s))
        if not fired or state.now < state.until or self.allowlisted(kind, subject):
            return []
        rule, measured, window = fired[0]
        return [self._decide(kind, subject, rule, measured, window, state)]

    def _campaign(self, batch: SignalBatch, state: SubjectState) -> list[Decision]:
        """A distributed spray on the login endpoints: no single address crosses a per-address
        threshold, but many fail at once. State: per address, its recent failure times."""
        cfg = self.settings.distributed_spray
        if not cfg.enabled:
            return []
        seen: dict[str, list[float]] = state.windows.setdefault("campaign", {})
        blocked: dict[str, float] = state.windows.setdefault("blocked", {})
        for o in batch.observations:
            if o.kind is SignalKind.LOGIN_FAILURE and o.value:
                state.now = max(state.now, o.at)
                seen.setdefault(o.value, []).extend([o.at] * o.count)
        edge = state.now - cfg.window_s
        for ip in list(seen):
            times = [t for t in seen[ip] if t > edge][-cfg.per_ip * 4 :]
            if times:
                seen[ip] = times
            else:
                del seen[ip]
        for ip in [ip for ip, until in blocked.items() if until <= state.now]:
            del blocked[ip]
        if len(seen) > 20_000:  # bound the state: keep the most active addresses
            for ip, _ in sorted(seen.items(), key=lambda kv: len(kv[1]))[: len(seen) - 20_000]:
                del seen[ip]
        if len(seen) < cfg.threshold:
            return []
        decisions = []
        duration = self.settings.block_durations_s[0]
        wall = self.clock()
        for ip, times in seen.items():
            if len(times) < cfg.per_ip or ip in blocked or self.allowlisted("ip", ip):
                continue
            blocked[ip] = state.now + duration
            decisions.append(
                Decision(
                    id=decision_id("ip", ip, "distributed-spray", max(times)),
                    subject_type=SubjectType.IP,
                    subject=ip,
                    action=Action.BLOCK,
                    reason=f"{len(times)} failed logins while {len(seen)} addresses fail logins",
                    rule="distributed-spray",
                    issued_at=datetime.fromtimestamp(wall, UTC),
                    expires_at=datetime.fromtimestamp(wall + duration, UTC),
                    issuer=self.issuer,
                    observed_at=datetime.fromtimestamp(max(times), UTC),
                )
            )
        return decisions

    def _measure(self, rule: Rule, cfg: ThresholdRule, obs: list[Any], state: SubjectState) -> int:
        data = state.windows.get(rule.name)
        if rule.measure == "count":
            cw: CountWindow = load_count(cfg.window_s, data)
            for o in obs:
                cw.add(o.at, o.count)
            n = cw.total(state.now)
            state.windows[rule.name] = dump_count(cw)
            return n
        dw: DistinctWindow = load_distinct(cfg.window_s, cfg.threshold * 4, data)
        for o in obs:
            if o.value:
                dw.add(o.value, o.at)
        n = dw.count(state.now)
        state.windows[rule.name] = dump_distinct(dw)
        return n

    def _decide(
        self, kind: str, subject: str, rule: Rule, measured: int, window: float, state: SubjectState
    ) -> Decision:
        s = self.settings
        if state.now - state.last_offense > s.offense_memory_s:
            state.offenses = 0
        state.offenses += 1
        state.last_offense = state.now
        durations = s.block_durations_s
        duration = (
            s.revoke_duration_s
            if rule.action is Action.REVOKE
            else durations[min(state.offenses, len(durations)) - 1]
        )
        state.until = state.now + duration
        for name in list(state.windows):  # evidence is spent on this decision
            if name in {r.name for r in RULES if kind in r.subjects}:
                del state.windows[name]
        wall = self.clock()
        return Decision(
            id=decision_id(kind, subject, rule.name, state.offenses, state.now),
            subject_type=SubjectType(kind),
            subject=subject,
            action=rule.action,
            reason=rule.reason.format(n=measured, w=window),
            rule=rule.name,
            issued_at=datetime.fromtimestamp(wall, UTC),
            expires_at=datetime.fromtimestamp(wall + duration, UTC),
            issuer=self.issuer,
            offense=state.offenses,
            observed_at=datetime.fromtimestamp(state.now, UTC),
        )
