"""`restguard secrets init`: create the local secret files."""

from __future__ import annotations

import click

from pipeline.cli.common import note, settings_of
from pipeline.settings import ensure_secret_file


@click.group("secrets")
def command() -> None:
    """Manage restguard's own secrets (never printed)."""


@command.command("init")
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the fingerprint secret file (mode 0600) if it does not exist."""
    settings = settings_of(ctx)
    path = settings.secrets.fingerprint_secret_file
    if ensure_secret_file(path):
        note(f"created {path}")
    else:
        note(f"{path} exists; left unchanged")
