"""`restguard enforce serve`: an HTTP decision point.

- nginx `auth_request`: `GET /authz` with the original request in X-Original-Method,
  X-Original-URI and the client address in X-Real-IP (or X-Forwarded-For);
- Envoy `ext_authz` (HTTP service, path_prefix /envoy): `/envoy/<original path>` with the
  original method and the allowed headers;
- answers 200 to allow, 401 (credential refused) or 403 (caller refused) with X-Restguard-Reason
  and X-Restguard-Rule to deny;
- `GET /decisions/stream`: Server-Sent Events, a snapshot of the live decisions, then changes;
- `GET /healthz`, `GET /metrics` (Prometheus text format).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pipeline.auth.sealed import gateway_sealer
from pipeline.decisions.book import Entry
from pipeline.enforce.feed import DecisionFeed
from pipeline.enforce.sdk import Answer, Enforcer
from pipeline.kafka.publisher import Publisher
from schemas.request import RequestEvent
from schemas.settings import Settings

log = logging.getLogger(__name__)
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
# Headers of the gateway's own subrequest that are not the client's.
_HOP = {"host", "content-length", "connection", "x-original-uri", "x-original-method", "x-real-ip"}


class DecisionPoint:
    def __init__(
        self, settings: Settings, enforcer: Enforcer, publisher: Publisher | None = None
    ) -> None:
        self.settings = settings
        self.enforcer = enforcer
        self.publisher = publisher
        self.counts: Counter[str] = Counter()
        self.latency_sum = 0.0
        self.feed = DecisionFeed(
            enforcer.snapshot, enforcer.status, settings.enforce.sse_keepalive_s
        )
        self._proxies = [*_LOOPBACK, *settings.classifier.trusted_proxies]
        self._seal = gateway_sealer(settings) if publisher is not None else None

    def on_change(self, key: str, entry: Entry | None) -> None:
        """Called from the decisions view's thread: the change goes to the SSE subscribers."""
        self.feed.on_change(key, entry)

    # -- requests -----------------------------------------------------------------------------
    def _trusted(self, request: web.Request) -> bool:
        peer = request.remote or ""
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(ip.version == n.version and ip in n for n in self._proxies)

    def _event(self, request: web.Request, method: str, target: str) -> RequestEvent:
        path, _, query = target.partition("?")
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in _HOP}
        client = request.remote or "0.0.0.0"  # noqa: S104 - a value, not a bind address
        if self._trusted(request):
            real = request.headers.get("X-Real-IP")
            xff = request.headers.get("X-Forwarded-For")
            client = (real or (xff.split(",")[-1].strip() if xff else "") or client).strip("[]")
        return RequestEvent.model_validate(
            {
                "timestamp": datetime.now(UTC),
                "method": method or "GET",
                "path": path or "/",
                "query": query or None,
                "status": 0,
                "client_ip": client,
                "headers": headers,
                "user_agent": request.headers.get("User-Agent"),
                "gateway": "restguard-enforce",
            }
        )

    def decide(self, request: web.Request, method: str, target: str) -> web.Response:
        start = time.perf_counter()
        try:
            event = self._event(request, method, target)
        except ValueError:
            self.counts["deny_bad_request"] += 1
            return web.Response(
                status=403,
                headers={
                    "X-Restguard-Reason": "unreadable request",
                    "X-Restguard-Rule": "malformed-request",
                },
            )
        answer = self.enforcer.check(event)
        self.latency_sum += time.perf_counter() - start
        self.counts["allow" if answer.allow else "deny"] += 1
        if self.publisher is not None:
            self._publish(event, answer)
        return respond(answer)

    def _publish(self, event: RequestEvent, answer: Answer) -> None:
        """What this point saw becomes a request event (status 0: allowed, before upstream).
        Queued, never awaited: the answer does not wait for Kafka (see Publisher)."""
        published = event if answer.allow else event.model_copy(update={"status": answer.status})
        assert self.publisher is not None  # noqa: S101 - caller checked
        try:
            if self._seal is not None:
                published = self._seal.seal(published)
            queued = self.publisher.publish(
                self.settings.topics.requests,
                published.model_dump_json(exclude_none=True).encode(),
                key=event.client_ip.encode(),
            )
        except Exception as err:
            self.counts["publish_failed"] += 1
            log.warning("request event not published: %s", type(err).__name__)
            return
        if not queued:
            self.counts["publish_dropped"] += 1

    async def authz(self, request: web.Request) -> web.Response:
        method = request.headers.get("X-Original-Method", "GET")
        target = request.headers.get("X-Original-URI", "/")
        return self.decide(request, method, target)

    async def envoy(self, request: web.Request) -> web.Response:
        tail = request.match_info.get("tail", "")
        target = "/" + tail + (f"?{request.query_string}" if request.query_string else "")
        return self.decide(request, request.method, target)

    async def health(self, request: web.Request) -> web.Response:
        status = self.enforcer.status()
        ok = status["synced"] or self.settings.enforce.fail_mode == "open"
        if self.publisher is not None:
            status["publisher"] = self._publisher_status()
        return web.json_response(status, status=200 if ok else 503)

    def _publisher_status(self) -> dict[str, Any]:
        p = self.publisher
        assert p is not None  # noqa: S101 - caller checked
        return {
            "connected": p.connected,
            "pending": p.pending,
            "acked": p.acked,
            "failed": p.failed,
            "dropped": p.dropped,
        }

    async def metrics(self, request: web.Request) -> web.Response:
        status = self.enforcer.status()
        lines = [
            "# TYPE restguard_enforce_requests_total counter",
            *(
                f'restguard_enforce_requests_total{{result="{k}"}} {v}'
                for k, v in sorted(self.counts.items())
            ),
            "# TYPE restguard_enforce_decisions gauge",
            f"restguard_enforce_decisions {status['decisions']}",
            "# TYPE restguard_enforce_synced gauge",
            f"restguard_enforce_synced {int(status['synced'])}",
            "# TYPE restguard_enforce_stale_seconds gauge",
            f"restguard_enforce_stale_seconds {status['stale_s'] or 0}",
            "# TYPE restguard_enforce_check_seconds_sum counter",
            f"restguard_enforce_check_seconds_sum {self.latency_sum:.6f}",
            "# TYPE restguard_enforce_rejected_decisions_total counter",
            f"restguard_enforce_rejected_decisions_total {sum(status['rejected'].values())}",
        ]
        if self.publisher is not None:
            for name, value in self._publisher_status().items():
                kind = "gauge" if name in {"connected", "pending"} else "counter"
                suffix = "" if kind == "gauge" else "_total"
                metric = f"restguard_enforce_publish_{name}{suffix}"
                lines += [f"# TYPE {metric} {kind}", f"{metric} {int(value)}"]
        return web.Response(
            text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8"
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/authz", self.authz)
        app.router.add_route("*", "/envoy/{tail:.*}", self.envoy)
        app.router.add_get("/decisions/stream", self.feed.stream)
        app.router.add_get("/healthz", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.on_startup.append(self.feed.on_startup)
        return app


def respond(answer: Answer) -> web.Response:
    headers = {
        "X-Restguard-Verdict": "allow" if answer.allow else "deny",
        "X-Restguard-Scheme": answer.scheme or "",
    }
    if answer.principal:
        headers["X-Restguard-User"] = answer.principal.encode("ascii", "replace").decode()
    if answer.allow:
        return web.Response(status=200, headers=headers)
    headers["X-Restguard-Reason"] = answer.reason.encode("ascii", "replace").decode()[:512]
    headers["X-Restguard-Rule"] = answer.rule or ""
    if answer.status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return web.Response(status=answer.status, headers=headers)
