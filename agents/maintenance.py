"""Timers beside the agents: keep the trusted issuers' keys fresh."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from pipeline.app import Runtime
from pipeline.auth.validate import CredentialValidator

log = logging.getLogger(__name__)


def register(app: faust.App, rt: Runtime) -> Any:
    validator = rt.processor.validator
    jwt = validator.jwt if isinstance(validator, CredentialValidator) else None
    if jwt is None:
        return None
    store = jwt.store

    @app.timer(interval=30.0, on_leader=False)
    async def refresh_issuer_keys() -> None:
        """Refetch every issuer's JWKS older than validation.jwks_refresh_s (off the loop)."""
        for issuer in store.stale():
            ok = await asyncio.to_thread(store.refresh, issuer)
            rt.metrics.inc("jwks_refresh_ok" if ok else "jwks_refresh_failed")

    @app.task
    async def initial_issuer_keys() -> None:
        for issuer in store.stale():
            await asyncio.to_thread(store.refresh, issuer)

    return refresh_issuer_keys
