"""Aggregations over the audit index: counts by scheme, principals per scheme, outcomes."""

from __future__ import annotations

from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from pipeline.errors import ElasticsearchUnavailableError
from pipeline.es.indices import audit_alias
from pipeline.es.query import AuditFilter, audit_query
from schemas.settings import ElasticsearchSettings


def _aggregate(
    client: Elasticsearch, settings: ElasticsearchSettings, f: AuditFilter, aggs: dict[str, Any]
) -> dict[str, Any]:
    """The aggregations (and total) of the audit records matching `f`."""
    try:
        resp = client.search(
            index=audit_alias(settings),
            query=audit_query(f),
            size=0,
            aggs=aggs,
            track_total_hits=True,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(",".join(settings.hosts), str(err)) from err
    body: dict[str, Any] = resp.body
    return body


def scheme_summary(
    client: Elasticsearch, settings: ElasticsearchSettings, f: AuditFilter, top: int = 5
) -> dict[str, Any]:
    """Per scheme: calls, distinct principals, the top principals; plus outcomes and verdicts."""
    aggs = {
        "schemes": {
            "terms": {"field": "restguard.scheme", "size": 20},
            "aggs": {
                "principals": {"cardinality": {"field": "user.name"}},
                "top": {"terms": {"field": "user.name", "size": top}},
                "ips": {"cardinality": {"field": "source.ip"}},
            },
        },
        "outcomes": {"terms": {"field": "restguard.validation.outcome", "size": 20}},
        "verdicts": {"terms": {"field": "restguard.verdict", "size": 5}},
    }
    resp = _aggregate(client, settings, f, aggs)
    a = resp.get("aggregations", {})
    return {
        "total": resp["hits"]["total"]["value"],
        "schemes": [
            {
                "scheme": b["key"],
                "calls": b["doc_count"],
                "principals": b["principals"]["value"],
                "ips": b["ips"]["value"],
                "top": [(t["key"], t["doc_count"]) for t in b["top"]["buckets"]],
            }
            for b in a.get("schemes", {}).get("buckets", [])
        ],
        "outcomes": {b["key"]: b["doc_count"] for b in a.get("outcomes", {}).get("buckets", [])},
        "verdicts": {b["key"]: b["doc_count"] for b in a.get("verdicts", {}).get("buckets", [])},
    }


LEGACY_SCHEMES = ("basic", "basic-query", "oauth1")


def audit_stats(
    client: Elasticsearch,
    settings: ElasticsearchSettings,
    f: AuditFilter,
    interval: str = "day",
    time_zone: str = "+00:00",
    top: int = 10,
) -> dict[str, Any]:
    """Everything `audit stats` and the dashboard show, in one request: totals, the schemes
    over time, outcomes, verdicts, failure reasons, who is still on Basic / OAuth 1.0 and the
    top failing addresses."""
    legacy = {
        "filter": {"terms": {"restguard.scheme": list(LEGACY_SCHEMES)}},
        "aggs": {
            "principals": {
                "terms": {"field": "user.name", "size": top * 5, "missing": "(unknown)"},
                "aggs": {
                    "schemes": {"terms": {"field": "restguard.scheme", "size": 3}},
                    "ips": {"cardinality": {"field": "source.ip"}},
                    "last": {"max": {"field": "@timestamp"}},
                    "clients": {"terms": {"field": "user_agent.original", "size": 2}},
                    "verdicts": {"terms": {"field": "restguard.verdict", "size": 3}},
                },
            }
        },
    }
    aggs: dict[str, Any] = {
        "over_time": {
            "date_histogram": {
                "field": "@timestamp",
                "calendar_interval": interval,
                "time_zone": time_zone,
                "min_doc_count": 0,
            },
            "aggs": {"schemes": {"terms": {"field": "restguard.scheme", "size": 20}}},
        },
        "schemes": {"terms": {"field": "restguard.scheme", "size": 20}},
        "outcomes": {"terms": {"field": "restguard.validation.outcome", "size": 20}},
        "verdicts": {"terms": {"field": "restguard.verdict", "size": 5}},
        "failures": {
            "filter": {"term": {"event.outcome": "failure"}},
            "aggs": {
                "reasons": {"terms": {"field": "restguard.validation.reason", "size": top}},
                "ips": {
                    "terms": {"field": "source.ip", "size": top},
                    "aggs": {
                        "users": {"cardinality": {"field": "user.name"}},
                        "last": {"max": {"field": "@timestamp"}},
                    },
                },
            },
        },
        "legacy": legacy,
        "range": {"stats": {"field": "@timestamp"}},
    }
    resp = _aggregate(client, settings, f, aggs)
    a = resp.get("aggregations", {})

    def counts(name: str, src: dict[str, Any] | None = None) -> dict[str, int]:
        return {b["key"]: b["doc_count"] for b in (src or a).get(name, {}).get("buckets", [])}

    principals = []
    for b in a.get("legacy", {}).get("principals", {}).get("buckets", []):
        principals.append(
            {
                "user": b["key"],
                "calls": b["doc_count"],
                "schemes": counts("schemes", b),
                "ips": b["ips"]["value"],
                "last_seen": b["last"].get("value_as_string"),
                "clients": [c["key"] for c in b["clients"]["buckets"]],
                "verdicts": counts("verdicts", b),
            }
        )
    failures = a.get("failures", {})
    return {
        "total": resp["hits"]["total"]["value"],
        "first": a.get("range", {}).get("min_as_string"),
        "last": a.get("range", {}).get("max_as_string"),
        "interval": interval,
        "over_time": [
            {"start": b["key_as_string"], "total": b["doc_count"], "schemes": counts("schemes", b)}
            for b in a.get("over_time", {}).get("buckets", [])
        ],
        "schemes": counts("schemes"),
        "outcomes": counts("outcomes"),
        "verdicts": counts("verdicts"),
        "failure_reasons": counts("reasons", failures),
        "failing_ips": [
            {
                "ip": b["key"],
                "failures": b["doc_count"],
                "users": b["users"]["value"],
                "last_seen": b["last"].get("value_as_string"),
            }
            for b in failures.get("ips", {}).get("buckets", [])
        ],
        "legacy_principals": principals[:top],
    }


def search_decisions(
    client: Elasticsearch,
    settings: ElasticsearchSettings,
    *,
    subject_type: str | None = None,
    subject: str | None = None,
    since: str | None = None,
    limit: int = 100,
    search_after: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """Decisions as issued (the decisions index), newest first."""
    from pipeline.es.indices import decisions_alias

    clauses: list[dict[str, Any]] = []
    if subject_type:
        clauses.append({"term": {"subject_type": subject_type}})
    if subject:
        clauses.append({"term": {"subject": subject}})
    if since:
        clauses.append({"range": {"issued_at": {"gte": since}}})
    try:
        resp = client.search(
            index=decisions_alias(settings),
            query={"bool": {"filter": clauses}},
            size=min(limit, 10_000),
            sort=[{"issued_at": "desc"}, {"id": "asc"}],
            search_after=search_after,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(",".join(settings.hosts), str(err)) from err
    return [{**h["_source"], "_sort": h["sort"]} for h in resp["hits"]["hits"]]
