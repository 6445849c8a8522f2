"""Publishing from a request path: the caller never waits for Kafka.

A gateway (`enforce serve`, `api serve`) must answer while Kafka is slow, restarting or not yet
reachable. `Publisher.publish()` only puts the record on a bounded queue; one thread connects
(and reconnects) the producer and sends. When the queue is full the record is dropped and
counted, never blocking the answer; what Kafka refuses is counted too."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Self

from pipeline.errors import KafkaUnavailableError, SinkError
from pipeline.kafka.producer import Producer
from schemas.settings import KafkaSettings

log = logging.getLogger(__name__)

_Record = tuple[str, bytes, bytes | None]


class Publisher:
    def __init__(
        self,
        settings: KafkaSettings,
        capacity: int = 100_000,
        reconnect_s: float = 2.0,
        factory: Callable[[KafkaSettings], Producer] = Producer,
    ) -> None:
        self._settings = settings
        self._queue: queue.Queue[_Record] = queue.Queue(maxsize=capacity)
        self._reconnect_s = reconnect_s
        self._factory = factory
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="restguard-publisher", daemon=True)
        self.dropped = 0  # the queue was full
        self.unsent = 0  # Kafka refused it at send time
        # A producer exists (Kafka answered once); it reconnects by itself after that, so an
        # outage shows as `acked` standing still (records wait in the producer), not here.
        self.connected = False
        self._failed_connects = 0

    def start(self) -> Self:
        self._thread.start()
        return self

    def publish(self, topic: str, value: bytes, key: bytes | None = None) -> bool:
        """Queue a record; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait((topic, value, key))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def acked(self) -> int:
        return self._producer.acked if self._producer is not None else 0

    @property
    def failed(self) -> int:
        return self.unsent + (self._producer.failed if self._producer is not None else 0)

    def _connect(self) -> Producer | None:
        try:
            producer = self._factory(self._settings)
        except KafkaUnavailableError as err:
            if self._failed_connects == 0:  # once per outage, not every retry
                log.warning("publisher: Kafka not reachable (%s); retrying", err)
            self._failed_connects += 1
            return None
        self._failed_connects = 0
        self.connected = True
        log.info("publisher: connected to Kafka %s", self._settings.bootstrap)
        return producer

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            if self._producer is None:
                self._producer = self._connect()
                if self._producer is None:
                    self._stop.wait(self._reconnect_s)
                    if self._stop.is_set():
                        return  # closing with Kafka away: what is queued cannot be sent
                    continue
            try:
                topic, value, key = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._producer.send(topic, value, key=key)
            except SinkError as err:
                self.unsent += 1
                log.warning("publisher: record not sent: %s", err)

    def close(self, timeout_s: float = 30.0) -> None:
        """Send what is queued (while Kafka answers, up to the timeout), then stop."""
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        self._thread.join(timeout_s)
        if self._producer is not None:
            try:
                self._producer.flush(max(1.0, deadline - time.monotonic()))
            except KafkaUnavailableError as err:
                log.warning("publisher: flush failed: %s", err)
            self._producer.close()
        left = self._queue.qsize()
        if left:
            log.warning("publisher: %d records not sent (Kafka not reachable)", left)
