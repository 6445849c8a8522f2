"""Kafka administration with kafka-python: reachability and the topics restguard needs."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.errors import KafkaUnavailableError
from schemas.settings import Settings

log = logging.getLogger(__name__)
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]

    @property
    def compacted(self) -> bool:
        return self.config.get("cleanup.policy") == "compact"


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic with its partitions and cleanup policy."""
    t = settings.topics
    compact = {
        "cleanup.policy": "compact",
        "min.cleanable.dirty.ratio": "0.1",
        "segment.ms": str(HOUR_MS),
        "delete.retention.ms": str(24 * HOUR_MS),
    }
    return [
        # The raw requests may carry credentials: short retention.
        TopicSpec(
            t.requests,
            t.partitions,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(t.requests_retention_hours * HOUR_MS),
                "segment.ms": str(min(t.requests_retention_hours, 24) * HOUR_MS),
            },
        ),
        TopicSpec(
            t.audit,
            t.partitions,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(t.audit_retention_hours * HOUR_MS),
            },
        ),
        TopicSpec(
            t.signals,
            t.partitions,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(24 * HOUR_MS),
            },
        ),
        # Registries read from the start by every worker and enforcement point: compacted.
        TopicSpec(t.credentials, 1, compact),
        TopicSpec(t.decisions, 1, compact),
        TopicSpec(
            t.deadletter,
            1,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(7 * 24 * HOUR_MS),
            },
        ),
    ]


def admin_client(bootstrap: str, timeout_s: float = 10.0) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="restguard-admin",
            request_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as err:
        raise KafkaUnavailableError(bootstrap, str(err) or type(err).__name__) from err


def cluster_answers(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True if the cluster answers a metadata request."""
    try:
        client = admin_client(bootstrap, timeout_s)
    except KafkaUnavailableError:
        return False
    try:
        client.describe_cluster()
        return True
    except KafkaError:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; returns the names created."""
    client = admin_client(settings.kafka.bootstrap)
    try:
        existing = set(client.list_topics())
        missing = [s for s in topic_specs(settings) if s.name not in existing]
        created = []
        for spec in missing:
            try:
                client.create_topics(
                    [
                        NewTopic(
                            spec.name,
                            spec.partitions,
                            settings.topics.replication_factor,
                            topic_configs=spec.config,
                        )
                    ]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        return created
    except KafkaError as err:
        raise KafkaUnavailableError(settings.kafka.bootstrap, str(err)) from err
    finally:
        client.close()
