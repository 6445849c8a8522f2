"""signals → decisions: sliding windows per subject in a Faust table (recovered from its
changelog after a crash), the rules, and signed decisions on the decisions topic.

Signals are taken in batches and each subject's state is read and written once per batch. The
state remembers the last signals offset it folded in, so events replayed after a crash (read
again from the last committed offset) are not counted twice.
The table is partitioned like the signals topic: its changelog partition is the key's, by the
same partitioner."""

from __future__ import annotations

import logging
from typing import Any

import faust
from pydantic import ValidationError

from pipeline.app import Runtime
from pipeline.detect.rules import SubjectState, fresh
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
        # The changelog partition comes from the key, hashed like the signals topic's own
        # records (same producer, same partitioner): table writes need no "current event", which
        # batched consumption (take_events) does not reliably have.
        use_partitioner=True,
    )

    @app.agent(topics.signals, name="restguard.detect")
    async def detect(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=rt.settings.worker.batch_within_s):
            grouped: dict[bytes, tuple[Any, list[Observation], int]] = {}
            states: dict[bytes, SubjectState] = {}
            for event in events:
                if event.key is None:
                    continue
                state = states.get(event.key)
                if state is None:
                    state = states[event.key] = SubjectState.loads(table.get(event.key))
                offset = event.message.offset
                if offset <= state.applied:
                    rt.metrics.inc("signals_replayed_total")  # already in the recovered state
                    continue
                try:
                    batch = SignalBatch.model_validate_json(event.value)
                except ValidationError:
                    rt.metrics.inc("signals_invalid_total")
                    continue
                _, observations, _ = grouped.get(event.key, (event, [], offset))
                observations.extend(batch.observations)
                grouped[event.key] = (event, observations, offset)
            decisions = []
            for key, (_, observations, _) in grouped.items():
                new = fresh(observations, states[key])
                if len(new) < len(observations):
                    rt.metrics.inc("signals_replayed_total", len(observations) - len(new))
                if new:
                    decisions += rt.detector.observe(
                        key.decode("utf-8", "replace"), SignalBatch(observations=new), states[key]
                    )
            # Decisions first, acknowledged, then the state that remembers them: a crash in
            # between replays the batch and re-issues the same decisions under the same ids.
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
            for key, (_, _, offset) in grouped.items():
                state = states[key]
                state.applied = offset
                table[key] = state.dumps()
            for decision in decisions:
                rt.metrics.inc(
                    "decisions_issued_total", rule=decision.rule, action=decision.action.value
                )

    return detect
