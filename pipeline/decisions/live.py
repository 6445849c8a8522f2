"""The live decisions a receiver (worker, SDK, `enforce serve`, CLI) holds: the compacted
decisions topic read from the start, every record verified, merged monotonically."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import UTC

from pipeline.decisions.book import Entry, Replay, merge, subject_key, tombstone_clears
from pipeline.decisions.signing import DecisionVerifier
from pipeline.errors import DecisionRejectedError
from pipeline.kafka.compacted import CompactedView, OnChange
from schemas.decision import Decision, SubjectType
from schemas.settings import Settings

log = logging.getLogger(__name__)


class DecisionsView:
    """key → live Entry, kept current from Kafka; unsigned, forged and replayed records are
    refused (and counted by reason)."""

    def __init__(
        self,
        settings: Settings,
        on_change: OnChange[Entry] | None = None,
        verifier: DecisionVerifier | None = None,
    ) -> None:
        self.verifier = verifier or DecisionVerifier.from_settings(settings.decisions)
        self.rejections: Counter[str] = Counter()
        self.view: CompactedView[Entry] = CompactedView(
            settings.kafka,
            settings.topics.decisions,
            self._decode,
            on_change,
            merge=self._merge,
            tombstone_clears=lambda old: tombstone_clears(old, time.time()),
        )

    def _decode(self, key: bytes, value: bytes) -> Entry | None:
        try:
            return Entry.of(self.verifier.verify(key.decode("utf-8", "replace"), value))
        except DecisionRejectedError as err:
            self.rejections[err.reason] += 1
            log.warning("decision record for %s refused: %s", key[:80], err.reason)
            return None

    def _merge(self, old: Entry | None, new: Entry) -> Entry:
        try:
            return merge(old, new)
        except Replay:
            self.rejections["replayed: older than the decision held"] += 1
            log.warning("replayed decision %s refused", new.id)
            raise

    def start(self) -> DecisionsView:
        self.view.start()
        return self

    def stop(self) -> None:
        self.view.stop()

    def wait_synced(self, timeout: float) -> bool:
        return self.view.wait_synced(timeout)

    def live(self, key: str, now: float | None = None) -> Entry | None:
        entry = self.view.get(key)
        if entry is None or not entry.live(time.time() if now is None else now):
            return None
        return entry

    def active(self, now: float | None = None) -> dict[str, Entry]:
        t = time.time() if now is None else now
        return {k: e for k, e in self.view.items() if e.live(t)}


class LiveRevocations:
    """The validator's view of revocations: live `revoke` decisions on credentials and token
    ids. (A `block` on a credential is an enforcement refusal, e.g. of a scheme the policy
    blocks: gateways refuse it, but the credential itself is not invalid.)"""

    def __init__(self, decisions: DecisionsView) -> None:
        self.decisions = decisions

    def revoked(self, subject_type: SubjectType, subject: str) -> str | None:
        entry = self.decisions.live(subject_key(subject_type, subject))
        return entry.reason if entry is not None and entry.action == "revoke" else None


def decision_document(d: Decision) -> dict[str, object]:
    """The decisions index's document."""
    doc: dict[str, object] = d.model_dump(mode="json")
    doc["@timestamp"] = d.issued_at.astimezone(UTC).isoformat()
    return doc
