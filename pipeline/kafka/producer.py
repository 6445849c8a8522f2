"""A batching kafka-python producer for the CLI (ingest, keys, decisions), with delivery
accounting: nothing is reported as sent unless Kafka acknowledged it."""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from pipeline.errors import KafkaUnavailableError, SinkError, scrub
from pipeline.kafka.security import client_kwargs
from schemas.settings import KafkaSettings

log = logging.getLogger(__name__)


class Producer:
    """Send, then `flush()` to learn how many records Kafka acknowledged and refused."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.servers = settings.bootstrap
        try:
            self._producer = KafkaProducer(
                **client_kwargs(settings),
                client_id=f"{settings.client_id}-cli",
                acks="all",
                linger_ms=max(settings.linger_ms, 5),
                batch_size=1024 * 1024,
                max_request_size=8 * 1024 * 1024,
                compression_type=None if settings.compression == "none" else settings.compression,
                retries=10,
                request_timeout_ms=30_000,
                max_block_ms=30_000,
            )
        except KafkaError as err:
            raise KafkaUnavailableError(self.servers, str(err)) from err
        self.acked = 0
        self.failed = 0
        self.last_error: str | None = None

    def _ok(self, _: Any) -> None:
        self.acked += 1

    def _err(self, exc: BaseException) -> None:
        self.failed += 1
        self.last_error = scrub(f"{type(exc).__name__}: {exc}")

    def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        try:
            future = self._producer.send(topic, value=value, key=key)
        except KafkaError as err:
            raise SinkError(f"Kafka refused a record for {topic}: {err}") from err
        future.add_callback(self._ok)
        future.add_errback(self._err)

    def flush(self, timeout_s: float = 60.0) -> None:
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as err:
            raise KafkaUnavailableError(self.servers, f"flush failed: {err}") from err

    def close(self) -> None:
        self._producer.close(timeout=10)

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
