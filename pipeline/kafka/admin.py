"""Kafka administration with kafka-python: reachability and the topics restguard needs."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.errors import KafkaUnavailableError, scrub
from pipeline.kafka.security import client_kwargs
from schemas.settings import KafkaSettings, Settings

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


class _Admin(KafkaAdminClient):  # type: ignore[misc]
    """A KafkaAdminClient that cleans up when bootstrapping fails: kafka-python 3.0 raises from
    its constructor and leaves the IO thread and the sockets open."""

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            if hasattr(self, "_net"):
                with contextlib.suppress(Exception):
                    self._client.close()
                with contextlib.suppress(Exception):
                    self._net.stop()
                with contextlib.suppress(Exception):
                    self._metrics.close()
            raise


class _Reasons(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if str(record.msg).startswith("Bootstrap connection to") and len(args) >= 2:
            self.reasons.append(str(args[1]))

    def reason(self) -> str | None:
        """The most telling one: a refused login or a certificate beats a closed socket."""
        telling = [r for r in self.reasons if "socket disconnected" not in r]
        found = telling or self.reasons
        return found[-1] if found else None


_reasons_lock = threading.Lock()


@contextlib.contextmanager
def _bootstrap_reasons() -> Iterator[_Reasons]:
    """Why kafka-python's bootstrap connections failed meanwhile: its exception only says that
    bootstrapping timed out; the reason (a refused login, an untrusted certificate) is only
    logged, and the CLI silences kafka-python's logs."""
    logger = logging.getLogger("kafka.net.manager")
    handler = _Reasons()
    with _reasons_lock:
        level, propagate = logger.level, logger.propagate
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        try:
            yield handler
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


def admin_client(
    settings: KafkaSettings, timeout_s: float = 10.0, bootstrap_timeout_s: float = 30.0
) -> KafkaAdminClient:
    """An admin client, connected: a failure says why (a refused login, a certificate)."""
    kwargs = client_kwargs(settings)
    with _bootstrap_reasons() as seen:
        try:
            return _Admin(
                **kwargs,
                client_id="restguard-admin",
                request_timeout_ms=int(timeout_s * 1000),
                bootstrap_timeout_ms=int(bootstrap_timeout_s * 1000),
            )
        except KafkaError as err:
            detail = str(err) or type(err).__name__
            if (reason := seen.reason()) is not None:
                detail = f"{detail} ({reason})"
            raise KafkaUnavailableError(settings.bootstrap, detail) from err


def cluster_problem(settings: KafkaSettings, timeout_s: float = 3.0) -> str | None:
    """None if the cluster answers a metadata request, else why not (a refused login, an
    untrusted certificate, no answer), with any secret masked."""
    try:
        client = admin_client(settings, timeout_s, bootstrap_timeout_s=timeout_s)
    except KafkaUnavailableError as err:
        return err.detail
    try:
        client.describe_cluster()
        return None
    except KafkaError as err:
        return scrub(f"{type(err).__name__}: {err}")
    finally:
        with contextlib.suppress(Exception):
            client.close()


def cluster_answers(settings: KafkaSettings, timeout_s: float = 3.0) -> bool:
    """True if the cluster answers a metadata request (a refused login is no answer)."""
    return cluster_problem(settings, timeout_s) is None


def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; returns the names created."""
    client = admin_client(settings.kafka)
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
