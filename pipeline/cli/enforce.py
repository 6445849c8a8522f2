"""`restguard enforce serve`: the HTTP decision point for nginx auth_request and Envoy ext_authz."""

from __future__ import annotations

from typing import Any

import click
from aiohttp import web

from pipeline.cli.common import note, settings_of
from pipeline.core import build_processor
from pipeline.decisions.book import Entry
from pipeline.decisions.live import DecisionsView, LiveRevocations
from pipeline.enforce.sdk import Enforcer
from pipeline.enforce.server import DecisionPoint
from pipeline.kafka.publisher import Publisher
from pipeline.kafka.registry import credential_view
from pipeline.settings import fingerprint_secret

SYNC_WAIT_S = 15.0


@click.group("enforce")
def command() -> None:
    """Enforcement points."""


@command.command("serve")
@click.option("--host", default=None, help="Listen address (default: enforce.host).")
@click.option("--port", type=int, default=None, help="Listen port (default: enforce.port).")
@click.option(
    "--publish/--no-publish",
    default=None,
    help="Also publish what it sees as request events (default: enforce.publish_events).",
)
@click.option(
    "--fail-mode",
    type=click.Choice(["open", "closed"]),
    default=None,
    help="When decisions were never loaded (default: enforce.fail_mode).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    publish: bool | None,
    fail_mode: str | None,
) -> None:
    """Answer allow/deny for every request from the live decisions and the inline policy."""
    settings = settings_of(ctx)
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if publish is not None:
        overrides["publish_events"] = publish
    if fail_mode is not None:
        overrides["fail_mode"] = fail_mode
    if overrides:
        settings = settings.model_copy(
            update={"enforce": settings.enforce.model_copy(update=overrides)}
        )
    cfg = settings.enforce

    holder: dict[str, DecisionPoint] = {}

    def on_change(key: str, entry: Entry | None) -> None:
        if "dp" in holder:
            holder["dp"].on_change(key, entry)

    decisions = DecisionsView(settings, on_change).start()
    registry = credential_view(settings).start() if cfg.inline_policy else None
    processor = (
        build_processor(
            settings,
            fingerprint_secret(settings),
            registry=registry,
            revocations=LiveRevocations(decisions),
        )
        if cfg.inline_policy
        else None
    )
    enforcer = Enforcer(settings, processor=processor, decisions=decisions)
    publisher = Publisher(settings.kafka).start() if cfg.publish_events else None
    point = DecisionPoint(settings, enforcer, publisher)
    holder["dp"] = point
    if decisions.wait_synced(SYNC_WAIT_S):
        note(f"decisions loaded: {len(decisions.active())} live")
    else:
        note(
            f"decisions not loaded yet (Kafka {settings.kafka.bootstrap}); serving "
            f"fail-{cfg.fail_mode} until they are"
        )
    if registry is not None and not registry.wait_synced(SYNC_WAIT_S):
        note("key registry not loaded yet: restguard keys are judged unknown until it is")
    note(
        f"enforce: listening on http://{cfg.host}:{cfg.port} "
        "(/authz for nginx, /envoy/ for Envoy, /decisions/stream, /healthz, /metrics)"
    )
    try:
        web.run_app(
            point.app(),
            host=cfg.host,
            port=cfg.port,
            print=None,
            access_log=None,
            handle_signals=True,
        )
    finally:
        decisions.stop()
        if registry is not None:
            registry.stop()
        if publisher is not None:
            publisher.close()
