"""Isolated runs of the real pipeline on the shared Kafka and Elasticsearch: namespaces of their
own, real worker processes, and waits on what the services hold. Used by the integration tests
and by `restguard bench`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import ApiError
from kafka import TopicPartition
from kafka.errors import KafkaError

from pipeline.errors import ElasticsearchUnavailableError
from pipeline.es.client import sync_client
from pipeline.es.query import AuditFilter, count_audit
from pipeline.kafka.admin import admin_client, topic_specs
from pipeline.kafka.security import consumer as new_consumer
from pipeline.worker import prepare
from schemas.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}__{k.upper()}" if prefix else k.upper(), v, out)
    else:
        out[f"RESTGUARD_{prefix}"] = value if isinstance(value, str) else json.dumps(value)


@dataclass
class Namespace:
    """A private set of topics, index prefix and consumer group: one test's or one benchmark
    run's own pipeline on the shared Kafka and Elasticsearch."""

    secret: str
    signing_key: Path
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    partitions: int = 4
    prefix: str = "rgt"
    extra: dict[str, Any] = field(default_factory=dict)

    def overrides(self) -> dict[str, Any]:
        base: dict[str, Any] = {
            "topics": {
                "requests": f"{self.prefix}-{self.run}.requests",
                "audit": f"{self.prefix}-{self.run}.audit",
                "credentials": f"{self.prefix}-{self.run}.credentials",
                "decisions": f"{self.prefix}-{self.run}.decisions",
                "deadletter": f"{self.prefix}-{self.run}.deadletter",
                "signals": f"{self.prefix}-{self.run}.signals",
                "partitions": self.partitions,
            },
            "elasticsearch": {
                "index_prefix": f"{self.prefix}-{self.run}",
                "refresh_interval": "1s",
            },
            "worker": {
                "app_id": f"{self.prefix}-{self.run}",
                "batch_within_s": 0.1,
                "session_timeout_s": 10.0,
                "metrics_port": 0,
                "data_dir": str(
                    Path(tempfile.gettempdir()) / f"restguard-{self.prefix}" / self.run
                ),
            },
            "secrets": {"fingerprint_secret": self.secret},
            "decisions": {"signing_key_file": str(self.signing_key)},
        }
        for section, values in self.extra.items():
            base.setdefault(section, {}).update(values)
        return base

    def settings(self) -> Settings:
        return Settings.model_validate(self.overrides())

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        flatten("", self.overrides(), out)
        return out

    def create(self) -> Settings:
        """Topics and index templates, ready for workers."""
        settings = self.settings()
        prepare(settings)
        return settings

    def remove(self) -> None:
        """Delete the namespace's indices, templates, topics and worker data."""
        settings = self.settings()
        client = sync_client(settings.elasticsearch)
        try:
            client.indices.delete(
                index=f"{settings.elasticsearch.index_prefix}-*",
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            for kind in ("audit", "decisions"):
                client.options(ignore_status=404).indices.delete_index_template(
                    name=f"{settings.elasticsearch.index_prefix}-{kind}"
                )
        finally:
            client.close()
        admin = admin_client(settings.kafka)
        try:
            names = [s.name for s in topic_specs(settings)]
            internal = [
                t for t in admin.list_topics() if t.startswith(settings.worker.app_id + "-")
            ]
            admin.delete_topics(names + internal)
        except KafkaError:
            pass
        finally:
            admin.close()
        shutil.rmtree(settings.worker.data_dir, ignore_errors=True)


class Worker:
    """A real `restguard worker` process."""

    def __init__(
        self, ns: Namespace, log: Path, name: str = "worker", loglevel: str = "info"
    ) -> None:
        self.loglevel = loglevel
        self.ns = ns
        self.log = log
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 90.0) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTGUARD_")}
        env.update(self.ns.env())
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "worker", "--loglevel", self.loglevel],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        wait_for(
            lambda: b"[^Worker]: Ready" in self.log.read_bytes() or not self.alive(),
            ready_timeout,
            f"{self.name} ready",
            self.tail,
        )
        if not self.alive():
            raise RuntimeError(f"{self.name} exited during start-up:\n{self.tail()}")
        return self

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
        except FileNotFoundError:
            return "(no log)"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def wait_for(
    cond: Callable[[], bool],
    timeout: float,
    what: str,
    detail: Callable[[], str] | None = None,
    every: float = 0.25,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f"\n{detail()}" if detail else "")
    )


def audit_count(settings: Settings, f: AuditFilter | None = None) -> int:
    """Audit records indexed so far (0 while a new daily index is still allocating)."""
    client = sync_client(settings.elasticsearch)
    try:
        client.indices.refresh(
            index=f"{settings.elasticsearch.index_prefix}-audit-*",
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        return count_audit(client, settings.elasticsearch, f or AuditFilter())
    except (ElasticsearchUnavailableError, ApiError):
        return 0
    finally:
        client.close()


def topic_values(settings: Settings, topic: str, timeout_ms: int = 3000) -> Iterator[bytes]:
    """Every record value currently on a topic, from the start."""
    consumer = new_consumer(
        settings.kafka, enable_auto_commit=False, consumer_timeout_ms=timeout_ms
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        for message in consumer:
            if message.value is not None:
                yield message.value
            tp = TopicPartition(message.topic, message.partition)
            if tp in remaining and message.offset + 1 >= remaining[tp]:
                del remaining[tp]
            if not remaining:
                break
    finally:
        consumer.close()


def caught_up(settings: Settings, topic: str) -> bool:
    """True when the worker group has committed every record of `topic`."""
    admin = admin_client(settings.kafka)
    consumer = new_consumer(settings.kafka)
    try:
        group = settings.worker.app_id
        offsets = admin.list_group_offsets(group)
        offsets = offsets.get(group, offsets)  # kafka-python 3 keys the answer by group
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = consumer.end_offsets(tps)
        for tp in tps:
            committed = offsets.get(tp)
            if ends[tp] > 0 and (committed is None or committed.offset < ends[tp]):
                return False
        return True
    finally:
        consumer.close()
        admin.close()
