"""decisions → Elasticsearch, beside the audit trail; expired decisions → tombstones."""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
import orjson

from pipeline.app import Runtime
from pipeline.decisions.live import decision_document
from pipeline.errors import DecisionRejectedError
from pipeline.es.bulk import IndexAction
from pipeline.es.indices import decisions_index
from pipeline.wire import dead_letter

log = logging.getLogger(__name__)


def register(app: faust.App, rt: Runtime) -> Any:
    topics = rt.topics
    prefix = rt.settings.elasticsearch.index_prefix

    @app.agent(topics.decisions, name="restguard.decisions-index")
    async def index_decisions(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.2):
            actions, dead = [], []
            for e in events:
                if e.value is None or e.key is None:
                    continue  # a tombstone: the decision's history stays in the index
                try:
                    d = rt.verifier.verify(e.key.decode("utf-8", "replace"), e.value)
                except DecisionRejectedError as err:
                    dead.append(
                        dead_letter(
                            err,
                            e.value,
                            rt.settings.topics.decisions,
                            partition=e.message.partition,
                            offset=e.message.offset,
                            reason=f"decision refused: {err.reason}",
                        )
                    )
                    continue
                actions.append(
                    IndexAction(
                        decisions_index(prefix, d.issued_at),
                        d.id,
                        orjson.dumps(decision_document(d)),
                    )
                )
            if actions:
                await rt.writer.write_all(actions)
            for letter in dead:
                await (await topics.deadletter.send(value=letter.model_dump_json().encode()))

    @app.timer(interval=30.0, on_leader=True)
    async def tombstone_expired() -> None:
        """Expired and lifted decisions leave the compacted topic (receivers already ignore
        them): a tombstone per subject keeps bootstrap small."""
        if rt.decisions is None:
            return
        now = time.time()
        for key, entry in list(rt.decisions.view.items()):
            if not entry.live(now):
                await topics.decisions.send(key=key.encode(), value=None)

    return index_decisions
