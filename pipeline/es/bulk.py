"""Idempotent, bounded bulk writes: `_id` is the record's own id, retries are capped, and a
document Elasticsearch refuses for good is handed back (for the dead letters), never retried
forever and never silently dropped."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch

from pipeline.errors import BackpressureError
from schemas.settings import ElasticsearchSettings

log = logging.getLogger(__name__)

# Item statuses worth another try: too many requests, unavailable, gateway trouble.
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"


@dataclass(frozen=True, slots=True)
class IndexAction:
    index: str
    id: str
    source: bytes  # the JSON document


@dataclass(slots=True)
class BulkOutcome:
    indexed: int = 0
    rejected: list[tuple[IndexAction, str]] = field(default_factory=list)
    attempts: int = 0


def ndjson(actions: Sequence[IndexAction]) -> bytes:
    parts: list[bytes] = []
    for a in actions:
        parts.append(b'{"index":{"_index":"%s","_id":"%s"}}\n' % (a.index.encode(), a.id.encode()))
        parts.append(a.source)
        parts.append(b"\n")
    return b"".join(parts)


Sleep = Callable[[float], Awaitable[None]]


class BulkWriter:
    """Writes batches; transient failures back off exponentially up to `bulk_max_retries`."""

    def __init__(
        self,
        client: AsyncElasticsearch,
        settings: ElasticsearchSettings,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.client = client
        self.max_retries = settings.bulk_max_retries
        self.max_backoff = settings.bulk_max_backoff_s
        self.max_docs = settings.bulk_max_docs
        self.max_bytes = settings.bulk_max_bytes
        self.concurrency = settings.bulk_concurrency
        self.concurrency = settings.bulk_concurrency
        self._sleep = sleep
        self.backpressure_waits = 0
        self.requests = 0  # bulk requests answered
        self.failures = 0  # attempts that failed (transport, 5xx, 429)
        self.seconds = 0.0  # time spent in answered bulk requests

    def chunks(self, actions: Sequence[IndexAction]) -> list[list[IndexAction]]:
        """Bulk requests bounded by document count and body size."""
        out: list[list[IndexAction]] = []
        current: list[IndexAction] = []
        size = 0
        for a in actions:
            cost = len(a.source) + len(a.index) + len(a.id) + 40
            if current and (len(current) >= self.max_docs or size + cost > self.max_bytes):
                out.append(current)
                current, size = [], 0
            current.append(a)
            size += cost
        if current:
            out.append(current)
        return out

    async def write_all(self, actions: Sequence[IndexAction]) -> BulkOutcome:
        """Index everything, in bounded bulks, never giving up: when Elasticsearch keeps
        failing, wait (capped exponential backoff) and try again, so nothing unacknowledged is
        ever passed on. Documents refused for good come back in `rejected`."""
        total = BulkOutcome()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(chunk: list[IndexAction]) -> BulkOutcome:
            async with gate:
                pause = 1.0
                while True:
                    try:
                        return await self.write(chunk)
                    except BackpressureError as err:
                        self.backpressure_waits += 1
                        log.warning(
                            "Elasticsearch not accepting writes (%s); retrying in %.0fs",
                            err.detail,
                            pause,
                        )
                        await self._sleep(pause)
                        pause = min(pause * 2, self.max_backoff)

        for outcome in await asyncio.gather(*(one(c) for c in self.chunks(actions))):
            total.indexed += outcome.indexed
            total.rejected += outcome.rejected
            total.attempts += outcome.attempts
        return total

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff, 0.25 * (2**attempt)))

    async def write(self, actions: Sequence[IndexAction]) -> BulkOutcome:
        """Index every action, or raise BackpressureError once the retries are spent."""
        outcome = BulkOutcome()
        pending = list(actions)
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if not pending:
                return outcome
            if attempt:
                await self._sleep(self.backoff(attempt - 1))
            outcome.attempts += 1
            started = time.perf_counter()
            try:
                # Pre-serialised NDJSON: the client passes bytes through unchanged.
                resp = await self.client.bulk(
                    operations=ndjson(pending),  # type: ignore[arg-type]
                    filter_path=_FILTER,
                )
            except (TransportConnectionError, ConnectionTimeout) as err:
                last_error = f"{type(err).__name__}: {err}"
                self.failures += 1
                log.warning("bulk attempt %d failed: %s", attempt + 1, last_error)
                continue
            except ApiError as err:
                if err.status_code == 413 and len(pending) > 1:
                    # Too large a request: split it (a half at a time) and go on.
                    half = len(pending) // 2
                    first = await self.write(pending[:half])
                    second = await self.write(pending[half:])
                    outcome.indexed += first.indexed + second.indexed
                    outcome.rejected += first.rejected + second.rejected
                    outcome.attempts += first.attempts + second.attempts
                    return outcome
                if err.status_code == 413:
                    outcome.rejected.append((pending[0], "HTTP 413 document too large"))
                    return outcome
                if err.status_code in _RETRY_STATUS or err.status_code >= 500:
                    last_error = f"HTTP {err.status_code}: {err.message}"
                    self.failures += 1
                    log.warning("bulk attempt %d failed: %s", attempt + 1, last_error)
                    continue
                raise BackpressureError(outcome.attempts, f"HTTP {err.status_code}") from err
            self.requests += 1
            self.seconds += time.perf_counter() - started
            body = resp.body
            if not body.get("errors"):
                outcome.indexed += len(pending)
                return outcome
            retry: list[IndexAction] = []
            for action, item in zip(pending, body.get("items", []), strict=False):
                result = item.get("index", {})
                status = int(result.get("status", 0))
                if 200 <= status < 300:
                    outcome.indexed += 1
                elif status in _RETRY_STATUS:
                    retry.append(action)
                else:
                    error = result.get("error") or {}
                    reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"[:1000]
                    outcome.rejected.append((action, f"HTTP {status} {reason}"))
            pending = retry
            last_error = f"{len(retry)} documents throttled"
        if pending:
            raise BackpressureError(outcome.attempts, last_error)
        return outcome
