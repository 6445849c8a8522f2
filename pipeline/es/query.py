"""Audit queries built from typed filters: structured clauses only, never raw query text."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from pipeline.errors import ElasticsearchUnavailableError
from pipeline.es.indices import audit_alias
from schemas.settings import ElasticsearchSettings
from schemas.vocabulary import EventOutcome, Outcome

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    scheme: str | None = None
    outcome: str | None = None
    verdict: str | None = None
    user: str | None = None
    ip: str | None = None
    path_prefix: str | None = None
    fingerprint: str | None = None
    gateway: str | None = None


def audit_query(f: AuditFilter) -> dict[str, Any]:
    """The bool query of a filter. `outcome` is ECS event.outcome (success, failure, unknown)
    or a validation outcome (valid, expired, ...)."""
    clauses: list[dict[str, Any]] = []
    if f.since or f.until:
        rng: dict[str, str] = {}
        if f.since:
            rng["gte"] = f.since.isoformat()
        if f.until:
            rng["lt"] = f.until.isoformat()
        clauses.append({"range": {"@timestamp": rng}})
    if f.scheme:
        clauses.append({"term": {"restguard.scheme": f.scheme}})
    if f.outcome:
        field = (
            "event.outcome"
            if f.outcome in {o.value for o in EventOutcome}
            else "restguard.validation.outcome"
        )
        if field == "restguard.validation.outcome" and f.outcome not in {o.value for o in Outcome}:
            raise ValueError(f"unknown outcome {f.outcome!r}")
        clauses.append({"term": {field: f.outcome}})
    if f.verdict:
        clauses.append({"term": {"restguard.verdict": f.verdict}})
    if f.user:
        clauses.append({"term": {"user.name": f.user}})
    if f.ip:
        ipaddress.ip_network(f.ip, strict=False)  # ValueError for garbage; CIDR allowed
        clauses.append({"term": {"source.ip": f.ip}})
    if f.path_prefix:
        clauses.append({"prefix": {"url.path": f.path_prefix}})
    if f.gateway:
        clauses.append({"term": {"observer.name": f.gateway}})
    if f.fingerprint:
        clauses.append({"term": {"restguard.credentials.fingerprint": f.fingerprint}})
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


def search_audit(
    client: Elasticsearch, settings: ElasticsearchSettings, f: AuditFilter, limit: int = 20
) -> list[dict[str, Any]]:
    """The newest matching audit records (at most `limit`, capped at 10,000)."""
    try:
        resp = client.search(
            index=audit_alias(settings),
            query=audit_query(f),
            size=min(max(limit, 0), MAX_LIMIT),
            sort=[{"@timestamp": "desc"}, {"event.id": "asc"}],
            track_total_hits=False,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except NotFoundError:
        return []
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(",".join(settings.hosts), str(err)) from err
    return [hit["_source"] for hit in resp["hits"]["hits"]]


def count_audit(client: Elasticsearch, settings: ElasticsearchSettings, f: AuditFilter) -> int:
    try:
        resp = client.count(
            index=audit_alias(settings),
            query=audit_query(f),
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except NotFoundError:
        return 0
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(",".join(settings.hosts), str(err)) from err
    return int(resp["count"])


def search_audit_page(
    client: Elasticsearch,
    settings: ElasticsearchSettings,
    f: AuditFilter,
    limit: int,
    after: list[Any] | None = None,
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """A page of the newest matching records and the sort values to continue after."""
    try:
        resp = client.search(
            index=audit_alias(settings),
            query=audit_query(f),
            size=min(max(limit, 1), 1000),
            sort=[{"@timestamp": "desc"}, {"event.id": "asc"}],
            search_after=after,
            track_total_hits=False,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except NotFoundError:
        return [], None
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(",".join(settings.hosts), str(err)) from err
    hits = resp["hits"]["hits"]
    following = hits[-1]["sort"] if len(hits) == min(max(limit, 1), 1000) else None
    return [h["_source"] for h in hits], following
