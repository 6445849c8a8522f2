"""Timers beside the agents: keep the trusted issuers' keys fresh."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from pipeline.app import Runtime
from pipeline.auth.validate import CredentialValidator
from pipeline.errors import ElasticsearchUnavailableError
from pipeline.es.client import sync_client
from pipeline.es.retention import prune_indices

log = logging.getLogger(__name__)


RETENTION_EVERY_S = 3600.0


def register(app: faust.App, rt: Runtime) -> Any:
    es = rt.settings.elasticsearch

    @app.timer(interval=RETENTION_EVERY_S, on_leader=True)
    async def retention() -> None:
        """Delete whole daily indices older than elasticsearch.retention_days (one worker)."""
        cutoff = datetime.now(UTC) - timedelta(days=es.retention_days)

        def prune() -> list[str]:
            client = sync_client(es)
            try:
                return prune_indices(client, es, cutoff)
            finally:
                client.close()

        try:
            gone = await asyncio.to_thread(prune)
        except ElasticsearchUnavailableError as err:
            log.warning("retention skipped: %s", err)
            return
        if gone:
            log.warning("retention: deleted %s", ", ".join(gone))

    validator = rt.processor.validator
    jwt = validator.jwt if isinstance(validator, CredentialValidator) else None
    if jwt is None:
        return retention
    store = jwt.store

    @app.timer(interval=30.0, on_leader=False)
    async def refresh_issuer_keys() -> None:
        """Refetch every issuer's JWKS older than validation.jwks_refresh_s (off the loop)."""
        for issuer in store.stale():
            ok = await asyncio.to_thread(store.refresh, issuer)
            rt.metrics.inc("jwks_refresh_total", result="ok" if ok else "failed")

    @app.task
    async def initial_issuer_keys() -> None:
        for issuer in store.stale():
            await asyncio.to_thread(store.refresh, issuer)

    return refresh_issuer_keys
