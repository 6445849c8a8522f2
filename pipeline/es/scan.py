"""Reading a whole range of audit records: point-in-time + search_after (never deep `from`),
so millions of records stream in bounded pages without missing or repeating any."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from pipeline.errors import ElasticsearchUnavailableError
from pipeline.es.indices import audit_alias
from pipeline.es.query import AuditFilter, audit_query
from schemas.settings import ElasticsearchSettings


def scan_audit(
    client: Elasticsearch,
    settings: ElasticsearchSettings,
    f: AuditFilter,
    *,
    fields: list[str] | None = None,
    page: int = 5000,
    keep_alive: str = "2m",
) -> Iterator[dict[str, Any]]:
    """Every matching audit record's _source, oldest first."""
    try:
        pit = client.open_point_in_time(
            index=audit_alias(settings), keep_alive=keep_alive, ignore_unavailable=True
        )["id"]
    except NotFoundError:
        return
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(",".join(settings.hosts), str(err)) from err
    after: list[Any] | None = None
    try:
        while True:
            resp = client.search(
                pit={"id": pit, "keep_alive": keep_alive},
                query=audit_query(f),
                size=page,
                sort=[{"@timestamp": "asc"}, {"_shard_doc": "asc"}],
                search_after=after,
                source_includes=fields,
                track_total_hits=False,
            )
            pit = resp.get("pit_id", pit)
            hits = resp["hits"]["hits"]
            if not hits:
                return
            for hit in hits:
                yield hit["_source"]
            after = hits[-1]["sort"]
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(",".join(settings.hosts), str(err)) from err
    finally:
        with contextlib.suppress(TransportError, ApiError):
            client.close_point_in_time(id=pit)
