"""The Faust application: the app, its topics, and the resources its agents share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust

from pipeline.auth.seal import Opener, opener_from
from pipeline.core import Processor
from pipeline.decisions.live import DecisionsView
from pipeline.decisions.signing import DecisionSigner, DecisionVerifier
from pipeline.detect.rules import Detector
from pipeline.detect.signals import SignalDeriver
from pipeline.es.bulk import BulkWriter
from pipeline.es.client import async_client
from pipeline.kafka.security import faust_credentials
from pipeline.metrics import Metrics
from schemas.settings import Settings


@dataclass
class Topics:
    requests: Any
    audit: Any
    deadletter: Any
    decisions: Any
    credentials: Any
    signals: Any


@dataclass
class Runtime:
    """What the agents share: the settings, the pure core, the sinks, the counters."""

    settings: Settings
    processor: Processor
    topics: Topics
    writer: BulkWriter
    deriver: SignalDeriver
    detector: Detector
    signer: DecisionSigner
    verifier: DecisionVerifier
    decisions: DecisionsView | None = None
    metrics: Metrics = field(default_factory=Metrics)
    # Opens sealed credentials (None: no private key, sealed events are dead-lettered).
    opener: Opener | None = None


def create_app(settings: Settings) -> faust.App:
    """A Faust app configured for batching: producer linger and compression, big fetches."""
    w, k = settings.worker, settings.kafka
    return faust.App(
        w.app_id,
        broker=[f"kafka://{server}" for server in k.bootstrap_servers],
        broker_credentials=faust_credentials(k),
        store="memory://",
        datadir=str(w.data_dir),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=w.session_timeout_s,
        broker_heartbeat_interval=min(3.0, w.session_timeout_s / 3),
        broker_commit_interval=1.0,
        producer_linger_ms=k.linger_ms,
        producer_compression_type=None if k.compression == "none" else k.compression,
        producer_max_request_size=8 * 1024 * 1024,
        producer_acks=-1,
        consumer_max_fetch_size=8 * 1024 * 1024,
        stream_buffer_maxsize=max(1024, w.batch_records * 4),
        web_enabled=w.metrics_port > 0,
        web_port=w.metrics_port or 6066,
        web_host=w.metrics_host,
    )


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """The topics as Faust objects. They are created beforehand (pipeline.kafka.admin) with
    their retention and compaction; Faust only reads and writes them."""
    t = settings.topics

    def topic(name: str) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes)

    return Topics(
        requests=topic(t.requests),
        audit=topic(t.audit),
        deadletter=topic(t.deadletter),
        decisions=topic(t.decisions),
        credentials=topic(t.credentials),
        signals=topic(t.signals),
    )


def build_runtime(
    app: faust.App, settings: Settings, processor: Processor, decisions: DecisionsView | None = None
) -> Runtime:
    topics = declare_topics(app, settings)
    writer = BulkWriter(async_client(settings.elasticsearch), settings.elasticsearch)
    return Runtime(
        settings=settings,
        processor=processor,
        topics=topics,
        writer=writer,
        deriver=SignalDeriver(settings.detection),
        detector=Detector(settings.detection, settings.decisions.issuer),
        signer=DecisionSigner.from_settings(settings.decisions),
        verifier=DecisionVerifier.from_settings(settings.decisions),
        decisions=decisions,
        opener=opener_from(settings.secrets, required=settings.secrets.seal_credentials),
    )
