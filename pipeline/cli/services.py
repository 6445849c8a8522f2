"""`restguard services up|down|status`: the embedded Kafka and Elasticsearch."""

from __future__ import annotations

import sys

import click

from pipeline.cli.common import note, settings_of
from pipeline.cli.secrets import ensure_local_secrets
from pipeline.services import local_services
from pipeline.services.process import ManagedProcess


def worker_process(home: object) -> ManagedProcess:
    """The background worker that `restguard demo` starts (stopped by `services down`)."""
    from pathlib import Path

    base = Path(str(home)).resolve()
    return ManagedProcess("worker", base / "worker", marker="-m pipeline worker")


@click.group("services")
def command() -> None:
    """Fetch, start, check and stop the local Kafka and Elasticsearch."""


@command.command("up")
@click.pass_context
def up(ctx: click.Context) -> None:
    """Start Kafka and Elasticsearch (fetched once into a cache) and wait until healthy."""
    settings = settings_of(ctx)
    for item in ensure_local_secrets(settings):
        note(f"created {item}")
    for svc in local_services(settings.local):
        note(f"{svc.name}: {svc.start(note)}")


@command.command("down")
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the worker started by the demo, Elasticsearch and Kafka (by their own PIDs)."""
    settings = settings_of(ctx)
    if worker_process(settings.local.home).stop(timeout=30):
        note("worker: stopped")
    for svc in reversed(local_services(settings.local)):
        note(f"{svc.name}: {'stopped' if svc.stop() else 'was not running'}")


@command.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show whether each service runs and answers; exit 1 if one does not."""
    settings = settings_of(ctx)
    bad = False
    for svc in local_services(settings.local):
        healthy, detail = svc.status()
        state = "healthy" if healthy else ("unhealthy" if detail != "stopped" else "stopped")
        bad = bad or not healthy
        click.echo(f"{svc.name:<14} {state:<10} {detail}")
    pid = worker_process(settings.local.home).pid()
    click.echo(
        f"{'worker':<14} {'running' if pid else 'stopped':<10} {f'pid {pid}' if pid else ''}"
    )
    if bad:
        sys.exit(1)
