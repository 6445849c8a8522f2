"""requests → audit: classify, validate and rule on every call, in batches."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import faust

from pipeline.app import Runtime
from pipeline.batch import SourceRecord, chunk, judge_records, parse_records
from pipeline.wire import pack

log = logging.getLogger(__name__)
AUDIT_PACK_LINES = 500


def register(app: faust.App, rt: Runtime) -> Any:
    w = rt.settings.worker
    topics = rt.topics

    @app.agent(topics.requests, name="restguard.classify")
    async def classify(stream: Any) -> None:
        async for events in stream.take_events(w.batch_records, within=w.batch_within_s):
            records = [
                SourceRecord(e.value, e.message.topic, e.message.partition, e.message.offset)
                for e in events
            ]
            parsed = parse_records(records, rt.opener)
            classes = rt.processor.classify(parsed.events)
            # The only I/O of the core (issuer keys, introspection) runs off the event loop.
            await asyncio.to_thread(rt.processor.prefetch, classes)
            batch = judge_records(parsed, classes, rt.processor, datetime.now(UTC), rt.deriver)
            # Await delivery before the batch is acked: offsets move only past what Kafka has.
            futures = [
                await topics.audit.send(value=pack(p))
                for p in chunk(batch.audit_lines, AUDIT_PACK_LINES)
            ]
            futures += [
                await topics.deadletter.send(value=d.model_dump_json().encode()) for d in batch.dead
            ]
            # One record per subject: the repartition that detection's tables are keyed by.
            futures += [
                await topics.signals.send(
                    key=key.encode(), value=signals.model_dump_json().encode()
                )
                for key, signals in batch.signals.items()
            ]
            for fut in futures:
                await fut
            for (scheme, outcome, verdict), n in batch.tally.items():
                rt.metrics.inc("events_total", n, scheme=scheme, outcome=outcome, verdict=verdict)
            rt.metrics.inc("events_dead_lettered_total", len(batch.dead))
            if batch.newest:
                rt.metrics.set("processing_lag_seconds", max(0.0, time.time() - batch.newest))
            if batch.dead:
                log.warning(
                    "%d events dead-lettered (first: %s)", len(batch.dead), batch.dead[0].reason
                )

    return classify
