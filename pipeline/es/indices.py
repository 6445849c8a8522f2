"""Index names (daily by the event's own time, behind aliases) and template installation."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
from elasticsearch import Elasticsearch

from schemas.settings import ElasticsearchSettings


def audit_alias(settings: ElasticsearchSettings) -> str:
    return f"{settings.index_prefix}-audit"


def decisions_alias(settings: ElasticsearchSettings) -> str:
    return f"{settings.index_prefix}-decisions"


def audit_index(prefix: str, when: datetime) -> str:
    """The daily audit index of a record: named by its own @timestamp (UTC), so a replay
    writes to the same index and overwrites by id."""
    return f"{prefix}-audit-{when.astimezone(UTC):%Y.%m.%d}"


def audit_index_for_day(prefix: str, day: str) -> str:
    """Same, from the `YYYY-MM-DD` that starts an RFC 3339 UTC timestamp."""
    return f"{prefix}-audit-{day[0:4]}.{day[5:7]}.{day[8:10]}"


def decisions_index(prefix: str, when: datetime) -> str:
    return f"{prefix}-decisions-{when.astimezone(UTC):%Y.%m}"


def template_body(name: str) -> dict[str, Any]:
    """A template shipped in schemas/elasticsearch/ (without its comment)."""
    text = resources.files("schemas").joinpath("elasticsearch", f"{name}.json").read_bytes()
    body: dict[str, Any] = orjson.loads(text)
    body.pop("_comment", None)
    return body


def install_templates(client: Elasticsearch, settings: ElasticsearchSettings) -> list[str]:
    """Install (or update) the index templates; returns their names."""
    prefix = settings.index_prefix
    installed = []
    for kind, alias in (("audit", audit_alias(settings)), ("decisions", decisions_alias(settings))):
        body = template_body(kind)
        body["settings"]["refresh_interval"] = settings.refresh_interval
        body["settings"]["number_of_replicas"] = settings.replicas
        if kind == "audit":
            body["settings"]["number_of_shards"] = settings.shards
        name = f"{prefix}-{kind}"
        client.indices.put_index_template(
            name=name,
            index_patterns=[f"{prefix}-{kind}-*"],
            template={
                "settings": body["settings"],
                "mappings": body["mappings"],
                "aliases": {alias: {}},
            },
            priority=200,
            meta={"managed_by": "restguard"},
        )
        installed.append(name)
    return installed
