"""signals → decisions: sliding windows per subject in a Faust table (recovered from its
changelog after a crash), the rules, and signed decisions on the decisions topic."""

from __future__ import annotations

import logging
from typing import Any

import faust
from pydantic import ValidationError

from pipeline.app import Runtime
from pipeline.detect.rules import SubjectState
from schemas.signal import SignalBatch

log = logging.getLogger(__name__)


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
        async for event in stream.events():
            if event.key is None:
                continue
            key = event.key.decode("utf-8", "replace")
            try:
                batch = SignalBatch.model_validate_json(event.value)
            except ValidationError:
                rt.metrics.inc("signals_invalid")
                continue
            state = SubjectState.loads(table.get(event.key))
            decisions = rt.detector.observe(key, batch, state)
            table[event.key] = state.dumps()
            for decision in decisions:
                fut = await topics.decisions.send(
                    key=decision.key.encode(), value=rt.signer.sign(decision)
                )
                await fut
                rt.metrics.inc("decisions_issued")
                log.warning(
                    "decision %s: %s %s (%s: %s)",
                    decision.id,
                    decision.action.value,
                    decision.key,
                    decision.rule,
                    decision.reason,
                )

    return detect
