"""`restguard api serve`: the audit query API (schemas/openapi.json) and the dashboard."""

from __future__ import annotations

from typing import Any

import click
from aiohttp import web

from pipeline.api.server import QueryApi
from pipeline.cli.common import note, settings_of
from pipeline.core import build_processor
from pipeline.decisions.live import DecisionsView, LiveRevocations
from pipeline.es.client import sync_client
from pipeline.kafka.publisher import Publisher
from pipeline.kafka.registry import credential_view
from pipeline.settings import fingerprint_secret

SYNC_WAIT_S = 15.0
MAX_REQUEST_LINE = 64 * 1024


@click.group("api")
def command() -> None:
    """The audit query API and the dashboard."""


@command.command("serve")
@click.option("--host", default=None, help="Listen address (default: api.host).")
@click.option("--port", type=int, default=None, help="Listen port (default: api.port).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve /api/v1/… (API key or OIDC token with audit:read) and the dashboard at /."""
    settings = settings_of(ctx)
    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v}
    if overrides:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=overrides)})
    holder: dict[str, QueryApi] = {}
    decisions = DecisionsView(
        settings, lambda k, e: holder["api"].on_change(k, e) if "api" in holder else None
    ).start()
    registry = credential_view(settings).start()
    if not registry.wait_synced(SYNC_WAIT_S):
        note("key registry not loaded yet: API keys are refused until it is")
    decisions.wait_synced(SYNC_WAIT_S)
    processor = build_processor(
        settings,
        fingerprint_secret(settings),
        registry=registry,
        revocations=LiveRevocations(decisions),
    )
    es = sync_client(settings.elasticsearch)
    publisher = Publisher(settings.kafka).start() if settings.api.publish_events else None
    api = QueryApi(settings, processor, es, decisions, publisher)
    holder["api"] = api
    note(
        f"api: http://{settings.api.host}:{settings.api.port}/ (dashboard), /api/v1/… "
        "(OpenAPI: /api/v1/openapi.json)"
    )
    try:
        web.run_app(
            api.app(),
            host=settings.api.host,
            port=settings.api.port,
            print=None,
            access_log=None,
            # the longest query the spec allows (every parameter at its maxLength, each character
            # percent-encoded UTF-8) must fit the request line
            max_line_size=MAX_REQUEST_LINE,
        )
    finally:
        decisions.stop()
        registry.stop()
        es.close()
        if publisher is not None:
            publisher.close()
