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


# Where the call came from: (requests partition, offset, index in a packed record). Detection
# skips what it already folded in, so calls replayed after a crash are not counted twice.
Source = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Signal:
    key: str
    kind: SignalKind
    at: float
    value: str | None = None
    src: Source | None = None


class SignalDeriver:
    """Pure but for a bounded memory of (subject, IP) pairs already reported recently."""

    def __init__(self, settings: DetectionSettings, memory: int = 200_000) -> None:
        self.settings = settings
        self._statuses = frozenset(settings.failure_statuses)
        self._paths = list(settings.failure_paths)
        self._login = list(settings.login_paths)
        # subject → {address: last seen}, and (subject, address) → when last reported.
        self._seen: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._reported: dict[tuple[str, str], float] = {}
        self._memory = memory

    def is_failure(self, e: Evaluated) -> bool:
        """A failed authentication: a failure status on a watched path, or a bad credential."""
        if e.check.outcome in _INVALID:
            return True
        return e.event.status in self._statuses and any(
            fnmatch.fnmatchcase(e.event.path, p) for p in self._paths
        )

    def signals(self, e: Evaluated, src: Source | None = None) -> list[Signal]:
        at = e.event.timestamp.timestamp()
        ip = e.cls.client_ip
        principal = e.check.principal or e.cls.principal
        out: list[Signal] = []
        if e.check.outcome is Outcome.REVOKED:
            out.append(Signal(f"ip:{ip}", SignalKind.REVOKED_USE, at, None, src))
        if self.is_failure(e):
            out.append(Signal(f"ip:{ip}", SignalKind.FAILURE, at, principal, src))
            if principal:
                out.append(Signal(f"user:{principal}", SignalKind.USER_FAILURE, at, ip, src))
            if any(fnmatch.fnmatchcase(e.event.path, p) for p in self._login):
                out.append(Signal(f"ip:{ip}", SignalKind.LOGIN_FAILURE, at, None, src))
                out.append(Signal("endpoint:login", SignalKind.LOGIN_FAILURE, at, ip, src))
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
            out.append(
                Signal(f"credential:{primary.fingerprint}", SignalKind.POLICY_BLOCK, at, None, src)
            )
        out.extend(self._uses(subject, ip, at))
        return out

    def _subject(self, e: Evaluated) -> str | None:
        primary = e.cls.primary
        assert primary is not None  # noqa: S101 - the caller checked
        if primary.scheme is Scheme.BEARER_JWT and primary.token_id:
            return f"token-id:{primary.token_id}"  # iss#jti: one token, whatever its encoding
        return f"credential:{primary.fingerprint}" if primary.fingerprint else None

    def _uses(self, subject: str, ip: str, at: float) -> list[Signal]:
        """Uses worth reporting for the leaked-credential rule. Most credentials live at one
        address: a credential is reported only once this worker has seen it from two addresses
        within the rule's window (then each of its addresses, each at most once per
        signal_dedupe_s). With W workers each seeing a share of the calls, a credential used
        from `threshold` addresses shows at least two to one worker while threshold > W."""
        window = self.settings.leaked_credential.window_s
        ips = self._seen.get(subject)
        if ips is None:
            ips = self._seen[subject] = {}
        else:
            self._seen.move_to_end(subject)
        last = ips.get(ip)
        ips[ip] = at if last is None or at > last else last
        if len(ips) > 1:
            for other in [o for o, t in ips.items() if at - t > window]:
                del ips[other]
        if len(self._seen) > self._memory:
            self._seen.popitem(last=False)
        if len(ips) < 2:
            return []
        out = []
        for addr, seen_at in ips.items():
            reported = self._reported.get((subject, addr))
            if reported is None or at - reported >= self.settings.signal_dedupe_s:
                self._reported[(subject, addr)] = at
                out.append(Signal(subject, SignalKind.USE, seen_at, addr))
        if len(self._reported) > self._memory:
            for key in list(self._reported)[: len(self._reported) - self._memory]:
                del self._reported[key]
        return out


def aggregate(signals: Iterable[Signal]) -> dict[str, SignalBatch]:
    """Signals of a batch → one SignalBatch per subject (same kind, time and value merged)."""
    grouped: dict[str, dict[tuple[SignalKind, float, str | None, Source | None], int]] = (
        defaultdict(dict)
    )
    for s in signals:
        slot = grouped[s.key]
        k = (s.kind, s.at, s.value, s.src)
        slot[k] = slot.get(k, 0) + 1
    return {
        key: SignalBatch(
            observations=[
                Observation(kind=kind, at=at, value=value, count=n, src=src)
                for (kind, at, value, src), n in slot.items()
            ]
        )
        for key, slot in grouped.items()
    }
