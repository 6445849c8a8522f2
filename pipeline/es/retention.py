"""Retention by deleting whole indices: daily audit indices (named by the events' own day) and
monthly decision indices, once every day in them is past the cutoff. (No ILM: x-pack is not in
the embedded node, and deleting named indices needs no plugin anywhere.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from pipeline.errors import ElasticsearchUnavailableError
from schemas.settings import ElasticsearchSettings


def _end_of(name: str, prefix: str) -> datetime | None:
    """The first instant after the last day an index holds, or None if it is not ours."""
    daily = re.fullmatch(rf"{re.escape(prefix)}-audit-(\d{{4}})\.(\d{{2}})\.(\d{{2}})", name)
    if daily:
        y, m, d = map(int, daily.groups())
        return datetime(y, m, d, tzinfo=UTC) + timedelta(days=1)
    monthly = re.fullmatch(rf"{re.escape(prefix)}-decisions-(\d{{4}})\.(\d{{2}})", name)
    if monthly:
        y, m = map(int, monthly.groups())
        return datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)
    return None


def prune_indices(
    client: Elasticsearch, settings: ElasticsearchSettings, cutoff: datetime, dry_run: bool = False
) -> list[str]:
    """Delete our indices whose every day is before `cutoff`; the names deleted."""
    prefix = settings.index_prefix
    try:
        names = list(
            client.indices.get(
                index=f"{prefix}-audit-*,{prefix}-decisions-*",
                ignore_unavailable=True,
                allow_no_indices=True,
            ).body
        )
        old = sorted(n for n in names if (end := _end_of(n, prefix)) is not None and end <= cutoff)
        if old and not dry_run:
            client.indices.delete(index=",".join(old))
    except (TransportError, ApiError) as err:
        raise ElasticsearchUnavailableError(",".join(settings.hosts), str(err)) from err
    return old
