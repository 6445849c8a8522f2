"""signals → decisions: sliding windows per subject in a Faust table (recovered from its
changelog after a crash), the rules, and signed decisions on the decisions topic.

Signals are taken in batches and each subject's state is read and written once per batch.
A table write needs the event it belongs to (the table is partitioned like the signals topic):
the stream's current event is set to the last event of each subject before writing."""

from __future__ import annotations

import logging
from typing import Any

import faust
from pydantic import ValidationError

from pipeline.app import Runtime
from pipeline.detect.rules import SubjectState
from schemas.signal import Observation, SignalBatch

log = logging.getLogger(__name__)
BATCH = 500


def register(app: faust.App, rt: Runtime) -> Any:
    topics = rt.topics
    # Keyed like the signals topic (same partitions), so each worker holds its subjects' state.
    table = app.Table(
        "restguard-detection",
        key_type=bytes,
        value_type=bytes,
        partitions=rt.settings.topics.partitions,
    )

    @app.agent(topics.signals, name="restguard.detect")
    async def detect(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=rt.settings.worker.batch_within_s):
            grouped: dict[bytes, tuple[Any, list[Observation]]] = {}
            for event in events:
                if event.key is None:
                    continue
                try:
                    batch = SignalBatch.model_validate_json(event.value)
                except ValidationError:
                    rt.metrics.inc("signals_invalid_total")
                    continue
                _, observations = grouped.get(event.key, (event, []))
                observations.extend(batch.observations)
                grouped[event.key] = (event, observations)
            decisions = []
            for key, (event, observations) in grouped.items():
                state = SubjectState.loads(table.get(key))
                decisions += rt.detector.observe(
                    key.decode("utf-8", "replace"), SignalBatch(observations=observations), state
                )
                stream._set_current_event(event)  # the table write goes to this partition
                table[key] = state.dumps()
            stream._set_current_event(None)
            futures = []
            for decision in decisions:
                futures.append(
                    await topics.decisions.send(
                        key=decision.key.encode(), value=rt.signer.sign(decision)
                    )
                )
                log.warning(
                    "decision %s: %s %s (%s: %s)",
                    decision.id,
                    decision.action.value,
                    decision.key,
                    decision.rule,
                    decision.reason,
                )
            for fut in futures:
                await fut
            for decision in decisions:
                rt.metrics.inc(
                    "decisions_issued_total", rule=decision.rule, action=decision.action.value
                )

    return detect
