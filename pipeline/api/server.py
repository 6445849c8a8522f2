"""`restguard api serve`: the audit query API (OpenAPI: schemas/openapi.json) and the dashboard.

Every request is authenticated by restguard's own core: an API key with the `audit:read`
scope or an OIDC token from a trusted issuer carrying it. Missing, invalid, revoked or expired
credentials get 401, a valid one without the scope 403. Every call is itself audited: it is
published to the requests topic like any gateway's event."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from typing import Any

import orjson
from aiohttp import web
from elasticsearch import Elasticsearch
from pydantic import BaseModel, ValidationError

from pipeline.api.params import (
    AuditParams,
    DecisionParams,
    StatsParams,
    TimelineParams,
    decode_cursor,
    encode_cursor,
)
from pipeline.auth.sealed import gateway_sealer
from pipeline.core import Processor
from pipeline.decisions.live import DecisionsView
from pipeline.enforce.feed import DecisionFeed, decision_json
from pipeline.errors import ElasticsearchUnavailableError
from pipeline.es.query import AuditFilter, search_audit, search_audit_page
from pipeline.es.stats import audit_stats, search_decisions
from pipeline.kafka.publisher import Publisher
from schemas.decision import Decision
from schemas.request import RequestEvent
from schemas.settings import Settings
from schemas.vocabulary import Outcome

log = logging.getLogger(__name__)
SCOPE = "audit:read"
_PUBLIC = {"/", "/healthz", "/metrics", "/api/v1/openapi.json", "/dashboard.js", "/dashboard.css"}


class InvalidParams(Exception):
    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("invalid parameters")


def _static(name: str) -> bytes:
    return resources.files("pipeline.api").joinpath("static", name).read_bytes()


def openapi_spec() -> bytes:
    return resources.files("schemas").joinpath("openapi.json").read_bytes()


def _error(status: int, error: str, detail: Any = None) -> web.Response:
    body = {"error": error, **({"detail": detail} if detail is not None else {})}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _decision(doc: dict[str, Any]) -> dict[str, Any]:
    """A decision document as the spec's Decision: without the index's own fields."""
    return {k: v for k, v in doc.items() if k in Decision.model_fields}


def _json(payload: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, option=orjson.OPT_UTC_Z), content_type="application/json"
    )


class QueryApi:
    def __init__(
        self,
        settings: Settings,
        processor: Processor,
        es: Elasticsearch,
        decisions: DecisionsView | None,
        publisher: Publisher | None,
    ) -> None:
        self.settings = settings
        self.processor = processor
        self.es = es
        self.decisions = decisions
        self.publisher = publisher
        self.counts: Counter[str] = Counter()
        self.feed = DecisionFeed(decisions.active if decisions is not None else dict)
        self._seal = gateway_sealer(settings) if publisher is not None else None

    # -- the auth middleware ------------------------------------------------------------------
    def _event(self, request: web.Request, status: int) -> RequestEvent:
        headers = {
            k.lower(): v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "x-api-key", "cookie", "user-agent")
        }
        return RequestEvent.model_validate(
            {
                "timestamp": datetime.now(UTC),
                "method": request.method,
                "path": request.path,
                "query": request.query_string or None,
                "status": status,
                "client_ip": request.remote or "127.0.0.1",
                "headers": headers,
                "user_agent": request.headers.get("User-Agent"),
                "gateway": "restguard-api",
            }
        )

    def authenticate(self, request: web.Request) -> web.Response | str:
        """The caller's name, or the 401/403 response."""
        event = self._event(request, 0)
        cls, check, _ = self.processor.evaluate(event)
        if cls.primary is None:
            return _error(
                401,
                "authentication required",
                "send an API key (X-API-Key) or a bearer token with audit:read",
            )
        if check.outcome is not Outcome.VALID:
            return _error(401, "credential refused", f"{check.outcome.value}: {check.reason}")
        if SCOPE not in check.scopes:
            return _error(403, "insufficient scope", f"the credential lacks {SCOPE}")
        return check.principal or cls.principal or "unknown"

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        if request.path in _PUBLIC or request.method == "OPTIONS":
            response: web.StreamResponse = await handler(request)
        else:
            who = self.authenticate(request)
            if isinstance(who, web.Response):
                response = who
            else:
                request["principal"] = who
                try:
                    response = await handler(request)
                except ValidationError as err:
                    response = _error(
                        400,
                        "invalid parameters",
                        [
                            {
                                "parameter": ".".join(map(str, e["loc"])) or "(query)",
                                "problem": e["msg"],
                            }
                            for e in err.errors(include_input=False, include_url=False)
                        ],
                    )
                except InvalidParams as err:
                    response = _error(400, "invalid parameters", err.problems)
                except ElasticsearchUnavailableError:
                    response = _error(503, "the audit store is unavailable")
            self._audit(request, response.status)
        self.counts[f"{request.path.split('/')[-1] or 'root'}:{response.status}"] += 1
        self.counts["seconds"] += int((time.perf_counter() - start) * 1e6)
        return response

    def _audit(self, request: web.Request, status: int) -> None:
        """Every API call goes through the pipeline like any other REST call."""
        if self.publisher is None:
            return
        try:
            event = self._event(request, status)
            if self._seal is not None:
                event = self._seal.seal(event)
            if not self.publisher.publish(
                self.settings.topics.requests, event.model_dump_json(exclude_none=True).encode()
            ):
                log.warning("API call not published: the publish queue is full")
        except Exception as err:
            log.warning("API call not published: %s", type(err).__name__)

    # -- endpoints ------------------------------------------------------------------------------
    @staticmethod
    def _params(model: type[BaseModel], request: web.Request) -> Any:
        query = dict(request.query.items())
        if len(query) != len(request.query):
            raise InvalidParams([{"parameter": "(query)", "problem": "a parameter is repeated"}])
        return model.model_validate(query)

    async def audit(self, request: web.Request) -> web.Response:
        p: AuditParams = self._params(AuditParams, request)
        since, until = p.window()
        f = AuditFilter(
            since=since,
            until=until,
            scheme=p.scheme,
            outcome=p.outcome,
            verdict=p.verdict,
            user=p.user,
            ip=p.ip,
            path_prefix=p.path,
        )
        items, following = await asyncio.to_thread(
            search_audit_page,
            self.es,
            self.settings.elasticsearch,
            f,
            p.limit,
            decode_cursor(p.cursor),
        )
        return _json({"items": items, "next_cursor": encode_cursor(following)})

    async def stats(self, request: web.Request) -> web.Response:
        p: StatsParams = self._params(StatsParams, request)
        since, until = p.window()
        f = AuditFilter(since=since, until=until)
        return _json(
            await asyncio.to_thread(
                audit_stats, self.es, self.settings.elasticsearch, f, p.interval, "+00:00", p.top
            )
        )

    async def timeline(self, request: web.Request) -> web.Response:
        p: TimelineParams = self._params(TimelineParams, request)
        since, _ = p.window()
        kind, value = next(
            (k, v)
            for k, v in (("user", p.user), ("credential", p.credential), ("ip", p.ip))
            if v is not None
        )
        f = AuditFilter(since=since, user=p.user, fingerprint=p.credential, ip=p.ip)
        calls = await asyncio.to_thread(
            search_audit, self.es, self.settings.elasticsearch, f, p.limit
        )
        decisions = await asyncio.to_thread(
            partial(
                search_decisions,
                self.es,
                self.settings.elasticsearch,
                subject_type=kind,
                subject=value,
                since=since.isoformat() if since else None,
                limit=p.limit,
            )
        )
        items = [{"type": "call", "at": c.get("@timestamp"), "record": c} for c in calls]
        items += [
            {
                "type": "decision",
                "at": d.get("issued_at"),
                "record": _decision(d),
            }
            for d in decisions
        ]
        items.sort(key=lambda i: str(i["at"] or ""))
        return _json({"items": items})

    async def decisions_history(self, request: web.Request) -> web.Response:
        p: DecisionParams = self._params(DecisionParams, request)
        since, _ = p.window()
        rows = await asyncio.to_thread(
            partial(
                search_decisions,
                self.es,
                self.settings.elasticsearch,
                subject_type=p.subject_type.value if p.subject_type else None,
                subject=p.subject,
                since=since.isoformat() if since else None,
                limit=p.limit,
                search_after=decode_cursor(p.cursor),
            )
        )
        following = rows[-1]["_sort"] if len(rows) == p.limit else None
        return _json(
            {
                "items": [_decision(r) for r in rows],
                "next_cursor": encode_cursor(following),
            }
        )

    async def decisions_live(self, request: web.Request) -> web.Response:
        if self.decisions is None:
            return _json({"items": []})
        return _json(
            {
                "items": [
                    orjson.loads(decision_json(k, e)) for k, e in self.decisions.active().items()
                ]
            }
        )

    def on_change(self, key: str, entry: Any) -> None:
        """Called from the decisions view's thread: the change goes to the SSE subscribers."""
        self.feed.on_change(key, entry)

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=openapi_spec(), content_type="application/json")

    async def dashboard(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("dashboard.html"), content_type="text/html")

    async def asset(self, request: web.Request) -> web.Response:
        name = request.path.lstrip("/")
        kind = "application/javascript" if name.endswith(".js") else "text/css"
        return web.Response(body=_static(name), content_type=kind)

    async def health(self, request: web.Request) -> web.Response:
        ok = await asyncio.to_thread(self.es.ping)
        return _json({"elasticsearch": ok}) if ok else _error(503, "elasticsearch unreachable")

    async def metrics(self, request: web.Request) -> web.Response:
        lines = ["# TYPE restguard_api_requests_total counter"]
        for key, value in sorted(self.counts.items()):
            if key == "seconds":
                continue
            endpoint, _, status = key.rpartition(":")
            lines.append(
                f'restguard_api_requests_total{{endpoint="{endpoint}",status="{status}"}} {value}'
            )
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware])
        r = app.router
        r.add_get("/", self.dashboard)
        r.add_get("/dashboard.js", self.asset)
        r.add_get("/dashboard.css", self.asset)
        r.add_get("/healthz", self.health)
        r.add_get("/metrics", self.metrics)
        r.add_get("/api/v1/openapi.json", self.openapi)
        r.add_get("/api/v1/audit", self.audit)
        r.add_get("/api/v1/stats", self.stats)
        r.add_get("/api/v1/timeline", self.timeline)
        r.add_get("/api/v1/decisions", self.decisions_history)
        r.add_get("/api/v1/decisions/live", self.decisions_live)
        r.add_get("/api/v1/decisions/stream", self.feed.stream)
        app.on_startup.append(self.feed.on_startup)
        return app
