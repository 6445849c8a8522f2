"""The live decisions as Server-Sent Events, for gateways and browsers that don't speak Kafka:
on connect a snapshot (one `decision` event each), then `synced`, then every change (`decision`
or `remove`) as the decisions view applies it, with keepalive comments in between.
Served by `enforce serve` (/decisions/stream) and `api serve` (/api/v1/decisions/stream)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from pipeline.decisions.book import Entry

_BACKLOG = 10_000  # messages held for one slow subscriber before its changes are dropped


def sse(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def decision_json(key: str, entry: Entry) -> bytes:
    payload: dict[str, Any] = entry.decision(key).model_dump(mode="json")
    payload["key"] = key
    return orjson.dumps(payload)


class DecisionFeed:
    def __init__(
        self,
        snapshot: Callable[[], Mapping[str, Entry]],
        synced: Callable[[], Any] = dict,
        keepalive_s: float = 15.0,
    ) -> None:
        self._snapshot = snapshot
        self._synced = synced  # the body of the `synced` event
        self._keepalive_s = keepalive_s
        self._subscribers: set[asyncio.Queue[bytes]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def on_startup(self, _: web.Application) -> None:
        self._loop = asyncio.get_running_loop()

    def on_change(self, key: str, entry: Entry | None) -> None:
        """Called from the decisions view's thread."""
        if self._loop is None or not self._subscribers:
            return
        message = (
            sse("decision", decision_json(key, entry))
            if entry is not None
            else sse("remove", orjson.dumps({"key": key}))
        )
        self._loop.call_soon_threadsafe(self._fan_out, message)

    def _fan_out(self, message: bytes) -> None:
        for queue in list(self._subscribers):
            if queue.qsize() < _BACKLOG:
                queue.put_nowait(message)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            for key, entry in self._snapshot().items():
                await response.write(sse("decision", decision_json(key, entry)))
            await response.write(sse("synced", orjson.dumps(self._synced())))
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=self._keepalive_s)
                except TimeoutError:
                    message = b": keepalive\n\n"
                await response.write(message)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._subscribers.discard(queue)
        return response
