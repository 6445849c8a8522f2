"""audit → Elasticsearch: bulk, idempotent by event id; acked only after Elasticsearch acked."""

from __future__ import annotations

import logging
from typing import Any

import faust

from pipeline.app import Runtime
from pipeline.batch import SourceRecord, index_actions
from pipeline.errors import DocumentRejectedError
from pipeline.wire import dead_letter

log = logging.getLogger(__name__)


def register(app: faust.App, rt: Runtime) -> Any:
    w, es = rt.settings.worker, rt.settings.elasticsearch
    topics = rt.topics

    @app.agent(topics.audit, name="restguard.index")
    async def index(stream: Any) -> None:
        async for events in stream.take_events(w.batch_records, within=w.batch_within_s):
            records = [
                SourceRecord(e.value, e.message.topic, e.message.partition, e.message.offset)
                for e in events
            ]
            batch = index_actions(records, es.index_prefix)
            dead = list(batch.dead)
            # Acked (by moving on) only once Elasticsearch acknowledged every document.
            outcome = await rt.writer.write_all(batch.actions)
            for action, reason in outcome.rejected:
                dead.append(
                    dead_letter(
                        DocumentRejectedError(reason),
                        action.source,
                        rt.settings.topics.audit,
                        reason=f"rejected by Elasticsearch: {reason}",
                    )
                )
            futures = [
                await topics.deadletter.send(value=d.model_dump_json().encode()) for d in dead
            ]
            for fut in futures:
                await fut
            rt.metrics.inc("records_indexed_total", outcome.indexed)
            rt.metrics.inc("records_rejected_total", len(outcome.rejected))

    return index
