"""From judged calls to signals keyed by the subject they concern, aggregated per batch: the
repartition (`group_by`) of the detection stream, done once per subject per batch instead of
once per event."""

from __future__ import annotations

import fnmatch
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.core import Evaluated
from schemas.settings import DetectionSettings
from schemas.signal import Observation, SignalBatch, SignalKind
from schemas.vocabulary import Outcome, Scheme, Verdict

# Credentials whose reuse from many places means a leak (a cookie too: session hijacking).
_TRACKED = frozenset(
    {
        Scheme.BASIC,
        Scheme.BASIC_QUERY,
        Scheme.PAT,
        Scheme.API_KEY,
        Scheme.BEARER_JWT,
        Scheme.BEARER_OPAQUE,
        Scheme.OAUTH1,
        Scheme.SESSION_COOKIE,
    }
)
_INVALID = frozenset(o for o in Outcome if o not in (Outcome.VALID, Outcome.NOT_VALIDATED))


@dataclass(frozen=True, slots=True)
class Signal:
    key: str
    kind: SignalKind
    at: float
    value: str | None = None


class SignalDeriver:
    """Pure but for a bounded memory of (subject, IP) pairs already reported recently."""

    def __init__(self, settings: DetectionSettings, memory: int = 200_000) -> None:
        self.settings = settings
        self._statuses = frozenset(settings.failure_statuses)
        self._paths = list(settings.failure_paths)
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._memory = memory

    def is_failure(self, e: Evaluated) -> bool:
        """A failed authentication: a failure status on a watched path, or a bad credential."""
        if e.check.outcome in _INVALID:
            return True
        return e.event.status in self._statuses and any(
            fnmatch.fnmatchcase(e.event.path, p) for p in self._paths
        )

    def signals(self, e: Evaluated) -> list[Signal]:
        at = e.event.timestamp.timestamp()
        ip = e.cls.client_ip
        principal = e.check.principal or e.cls.principal
        out: list[Signal] = []
        if e.check.outcome is Outcome.REVOKED:
            out.append(Signal(f"ip:{ip}", SignalKind.REVOKED_USE, at))
        if self.is_failure(e):
            out.append(Signal(f"ip:{ip}", SignalKind.FAILURE, at, principal))
            if principal:
                out.append(Signal(f"user:{principal}", SignalKind.USER_FAILURE, at, ip))
            return out
        primary = e.cls.primary
        if primary is None or primary.scheme not in _TRACKED:
            return out
        subject = self._subject(e)
        if subject is None:
            return out
        if (
            e.ruling.verdict is Verdict.BLOCK
            and e.ruling.rule.startswith("scheme:")
            and primary.fingerprint
        ):
            out.append(Signal(f"credential:{primary.fingerprint}", SignalKind.POLICY_BLOCK, at))
        if self._fresh(subject, ip, at):
            out.append(Signal(subject, SignalKind.USE, at, ip))
        return out

    def _subject(self, e: Evaluated) -> str | None:
        primary = e.cls.primary
        assert primary is not None  # noqa: S101 - the caller checked
        if primary.scheme is Scheme.BEARER_JWT and primary.token_id:
            return f"token-id:{primary.token_id}"  # iss#jti: one token, whatever its encoding
        return f"credential:{primary.fingerprint}" if primary.fingerprint else None

    def _fresh(self, subject: str, ip: str, at: float) -> bool:
        """Report a (subject, IP) pair at most once per signal_dedupe_s of event time."""
        pair = (subject, ip)
        last = self._seen.get(pair)
        if last is not None and at - last < self.settings.signal_dedupe_s:
            return False
        self._seen[pair] = at
        self._seen.move_to_end(pair)
        if len(self._seen) > self._memory:
            self._seen.popitem(last=False)
        return True


def aggregate(signals: Iterable[Signal]) -> dict[str, SignalBatch]:
    """Signals of a batch → one SignalBatch per subject (same kind, time and value merged)."""
    grouped: dict[str, dict[tuple[SignalKind, float, str | None], int]] = defaultdict(dict)
    for s in signals:
        slot = grouped[s.key]
        k = (s.kind, s.at, s.value)
        slot[k] = slot.get(k, 0) + 1
    return {
        key: SignalBatch(
            observations=[
                Observation(kind=kind, at=at, value=value, count=n)
                for (kind, at, value), n in slot.items()
            ]
        )
        for key, slot in grouped.items()
    }
