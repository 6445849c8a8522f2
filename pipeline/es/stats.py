"""Aggregations over the audit index: counts by scheme, principals per scheme, outcomes."""

from __future__ import annotations

from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from pipeline.errors import ElasticsearchUnavailableError
from pipeline.es.indices import audit_alias
from pipeline.es.query import AuditFilter, audit_query
from schemas.settings import ElasticsearchSettings


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
    a = resp.body.get("aggregations", {})
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
