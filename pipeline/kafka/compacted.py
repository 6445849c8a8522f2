"""A live, in-memory view of a compacted topic: read from the start to rebuild the current state,
then followed; a tombstone (null value) deletes its key.

Every worker keeps one of the credential registry, every enforcement point one of the
decisions. It runs in a background thread (kafka-python), so asyncio agents, threaded gateways
and the CLI share one implementation; reads are plain dict lookups. When Kafka becomes
unreachable the last state keeps being served, and `status()` says how stale it is.

(Faust's GlobalTable would be the framework's answer; with faust-streaming 0.15.3 and an
externally written changelog topic its workers never became ready here, so this is ours.)
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.errors import scrub
from pipeline.kafka.security import consumer as new_consumer
from schemas.settings import KafkaSettings

log = logging.getLogger(__name__)
V = TypeVar("V")
Decode = Callable[[bytes, bytes], V | None]  # key, value → state, or None to skip the record
OnChange = Callable[[str, V | None], None]
Merge = Callable[[V | None, V], V]  # held, arriving → to hold; raises to refuse the arriving one
Clears = Callable[[V | None], bool]  # may a tombstone delete what is held?


def _replace(old: object, new: V) -> V:
    return new


def _always(old: object) -> bool:
    return True


@dataclass(frozen=True)
class ViewStatus:
    synced: bool  # has read everything that was on the topic when it started
    connected: bool
    keys: int
    last_update: float | None  # wall time of the last record applied
    last_contact: float | None  # wall time Kafka last answered
    last_error: str | None
    rejected: int  # records that failed to decode (or verify)

    @property
    def stale_s(self) -> float | None:
        return None if self.last_contact is None else max(0.0, time.time() - self.last_contact)


def _broker_connected(consumer: KafkaConsumer) -> bool:
    """Whether the consumer holds a live connection to any broker (kafka-python's client API;
    True when it cannot tell, so a change of that API never makes a view look stale)."""
    client: Any = getattr(consumer, "_client", None)
    try:
        brokers = client.cluster.brokers()
        nodes = [getattr(b, "node_id", getattr(b, "nodeId", None)) for b in brokers]
        return any(client.connected(n) for n in nodes if n is not None)
    except Exception:
        return True


class CompactedView(Mapping[str, V], Generic[V]):
    """key → decoded latest value of a compacted topic, kept current by a thread."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        decode: Decode[V],
        on_change: OnChange[V] | None = None,
        poll_ms: int = 100,
        merge: Merge[V] = _replace,
        tombstone_clears: Clears[V] = _always,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self._decode = decode
        self._merge = merge
        self._clears = tombstone_clears
        self._on_change = on_change
        self._poll_ms = poll_ms
        self._data: dict[str, V] = {}
        self._stop = threading.Event()
        self._synced = threading.Event()
        self.ready = False  # synced, as a plain attribute for hot paths (set once, never reset)
        self._thread: threading.Thread | None = None
        self._connected = False
        self._last_update: float | None = None
        self._last_contact: float | None = None
        self._last_error: str | None = None
        self.rejected = 0
        # Rebuild state: the new snapshot and the end offsets it must reach.
        self._fresh: dict[str, V] = {}
        self._targets: dict[TopicPartition, int] = {}
        self._rebuilding = True

    # Mapping -------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def get(self, key: str, default: V | None = None) -> V | None:  # type: ignore[override]
        return self._data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> CompactedView[V]:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"view:{self.topic}", daemon=True
            )
            self._thread.start()
        return self

    def load(self, items: Mapping[str, V]) -> None:
        """Serve a given state without Kafka (benchmarks, tests, an offline snapshot)."""
        self._data = dict(items)
        self._rebuilding = False
        self._synced.set()
        self.ready = True
        self._last_update = time.time()

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def data(self) -> Mapping[str, V]:
        """The live state itself, for lookups on hot paths (read it, never write it)."""
        return self._data

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def status(self) -> ViewStatus:
        return ViewStatus(
            synced=self._synced.is_set(),
            connected=self._connected,
            keys=len(self._data),
            last_update=self._last_update,
            last_contact=self._last_contact,
            last_error=self._last_error,
            rejected=self.rejected,
        )

    # the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            consumer: KafkaConsumer | None = None
            try:
                consumer = self._open()
                backoff = 0.5
                self._follow(consumer)
            except KafkaError as err:
                self._connected = False
                self._last_error = scrub(f"{type(err).__name__}: {err}")[:300]
                log.warning(
                    "view of %s: %s (serving the last known %d keys)",
                    self.topic,
                    self._last_error,
                    len(self._data),
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if consumer is not None:
                    with contextlib.suppress(Exception):
                        consumer.close()

    def _open(self) -> KafkaConsumer:
        consumer = new_consumer(
            self.settings,
            client_id=f"{self.settings.client_id}-view",
            enable_auto_commit=False,
            request_timeout_ms=15_000,
            fetch_max_wait_ms=self._poll_ms,
        )
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            consumer.close()
            raise KafkaError(f"topic {self.topic} does not exist")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        # Rebuild from the start (the compacted history) on every (re)connect.
        consumer.seek_to_beginning(*tps)
        self._targets = {tp: end for tp, end in consumer.end_offsets(tps).items() if end > 0}
        self._fresh = {}
        self._rebuilding = True
        self._connected = True
        self._last_contact = time.time()
        self._last_error = None
        if not self._targets:
            self._swap()
        return consumer

    def _swap(self) -> None:
        """The rebuild is complete: replace the served state in one step."""
        removed = set(self._data) - set(self._fresh)
        changed = [k for k, v in self._fresh.items() if self._data.get(k) is not v]
        self._data = self._fresh
        self._rebuilding = False
        self._synced.set()
        self.ready = True
        if self._on_change is not None:
            for key in removed:
                self._on_change(key, None)
            for key in changed:
                self._on_change(key, self._data[key])

    def _follow(self, consumer: KafkaConsumer) -> None:
        while not self._stop.is_set():
            batches = consumer.poll(timeout_ms=self._poll_ms, max_records=5000)
            # An unreachable broker makes poll() return nothing, not raise: ask the client.
            if batches or _broker_connected(consumer):
                self._last_contact = time.time()
                self._connected = True
                self._last_error = None
            elif self._connected:
                self._connected = False
                self._last_error = "no broker connection (serving the last known state)"
                log.warning("view of %s: lost the broker; serving the last known state", self.topic)
            for records in batches.values():
                for record in records:
                    self._apply(record.key, record.value)
                    tp = TopicPartition(record.topic, record.partition)
                    if (
                        self._rebuilding
                        and tp in self._targets
                        and record.offset + 1 >= self._targets[tp]
                    ):
                        del self._targets[tp]
            if self._rebuilding and not self._targets:
                self._swap()

    def _apply(self, key_bytes: bytes | None, value: bytes | None) -> None:
        if key_bytes is None:
            self.rejected += 1
            return
        key = key_bytes.decode("utf-8", "replace")
        target = self._fresh if self._rebuilding else self._data
        live = not self._rebuilding and self._on_change is not None
        held = target.get(key)
        if value is None:
            if held is not None and self._clears(held):
                del target[key]
                if live:
                    self._on_change(key, None)  # type: ignore[misc]
            self._last_update = time.time()
            return
        try:
            decoded = self._decode(key_bytes, value)
            kept = None if decoded is None else self._merge(held, decoded)
        except Exception:
            kept = None
        if kept is None:
            self.rejected += 1
            return
        target[key] = kept
        if live and kept is not held:
            self._on_change(key, kept)  # type: ignore[misc]
        self._last_update = time.time()
