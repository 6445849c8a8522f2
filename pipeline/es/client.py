"""Elasticsearch clients built from the settings."""

from __future__ import annotations

from elasticsearch import AsyncElasticsearch, Elasticsearch

from schemas.settings import ElasticsearchSettings


def sync_client(settings: ElasticsearchSettings) -> Elasticsearch:
    return Elasticsearch(
        settings.hosts,
        request_timeout=settings.request_timeout_s,
        retry_on_timeout=False,
        max_retries=0,  # our own bounded retries decide (pipeline.es.bulk)
    )


def async_client(settings: ElasticsearchSettings) -> AsyncElasticsearch:
    return AsyncElasticsearch(
        settings.hosts,
        request_timeout=settings.request_timeout_s,
        retry_on_timeout=False,
        max_retries=0,
    )
