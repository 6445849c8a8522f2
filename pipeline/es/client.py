"""Elasticsearch clients built from the settings: the same authentication and TLS for each."""

from __future__ import annotations

import base64
from typing import Any

from elasticsearch import AsyncElasticsearch, Elasticsearch

from pipeline.errors import hide_secret
from pipeline.settings import read_secret, secret_source
from schemas.settings import ElasticsearchSettings


def connection_kwargs(settings: ElasticsearchSettings) -> dict[str, Any]:
    """The hosts, authentication (API key or basic) and TLS options of every client we create."""
    kwargs: dict[str, Any] = {"hosts": settings.hosts}
    api_key = read_secret(settings.api_key, settings.api_key_file, "elasticsearch.api_key")
    password = read_secret(settings.password, settings.password_file, "elasticsearch.password")
    if api_key is not None:
        # id:key as Elasticsearch creates it, or already encoded (what it also returns): the
        # header carries the encoded form, so that is masked in messages too.
        key_id, colon, key = api_key.partition(":")
        if colon:
            hide_secret(key)
            kwargs["api_key"] = (key_id, hide_secret(key))
            hide_secret(base64.b64encode(api_key.encode()).decode())
        else:
            kwargs["api_key"] = api_key
    elif settings.username is not None and password is not None:
        kwargs["basic_auth"] = (settings.username, password)
        hide_secret(base64.b64encode(f"{settings.username}:{password}".encode()).decode())
    if any(h.lower().startswith("https://") for h in settings.hosts):
        kwargs["verify_certs"] = settings.verify_certs
        for name in ("ca_certs", "client_cert", "client_key"):
            path = getattr(settings, name)
            if path is not None:
                kwargs[name] = str(path)
    return kwargs


def sync_client(settings: ElasticsearchSettings) -> Elasticsearch:
    return Elasticsearch(
        **connection_kwargs(settings),
        request_timeout=settings.request_timeout_s,
        retry_on_timeout=False,
        max_retries=0,  # our own bounded retries decide (pipeline.es.bulk)
    )


def async_client(settings: ElasticsearchSettings) -> AsyncElasticsearch:
    return AsyncElasticsearch(
        **connection_kwargs(settings),
        request_timeout=settings.request_timeout_s,
        retry_on_timeout=False,
        max_retries=0,
    )


def describe(settings: ElasticsearchSettings) -> str:
    """The connection security in words, e.g. `https, certificates verified against CA /ca.pem;
    API key from file /k (not shown)`; never a secret."""
    if settings.tls:
        if not settings.verify_certs:
            tls = "https, certificates NOT verified"
        elif settings.ca_certs is not None:
            tls = f"https, certificates verified against CA {settings.ca_certs}"
        else:
            tls = "https, certificates verified against the system CAs"
        if settings.client_cert is not None:
            tls += f", client certificate {settings.client_cert}"
    elif any(h.lower().startswith("https://") for h in settings.hosts):
        tls = "some hosts https, some plain http"
    else:
        tls = "plain http, not encrypted"
    if settings.api_key is not None or settings.api_key_file is not None:
        source = secret_source(settings.api_key, settings.api_key_file, "elasticsearch.api_key")
        auth = f"API key from {source} (not shown)"
    elif settings.username is not None:
        source = secret_source(settings.password, settings.password_file, "elasticsearch.password")
        auth = f"basic auth as user {settings.username}, password from {source} (not shown)"
    else:
        auth = "no authentication"
    return f"{tls}; {auth}"
