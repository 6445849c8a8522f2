"""`restguard worker`: run the Faust agents (more workers with the same app id share the work)."""

from __future__ import annotations

import click

from pipeline.cli.common import settings_of
from pipeline.worker import run_worker


@click.command("worker")
@click.option(
    "--loglevel",
    type=click.Choice(["crit", "error", "warn", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.pass_context
def command(ctx: click.Context, loglevel: str) -> None:
    """Classify, validate and index every request event; runs until stopped."""
    run_worker(settings_of(ctx), loglevel=loglevel)
