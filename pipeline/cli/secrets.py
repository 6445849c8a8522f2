"""`restguard secrets init`: create the local secret files."""

from __future__ import annotations

import click

from pipeline.cli.common import note, settings_of
from pipeline.decisions.signing import generate_signing_key, public_path
from pipeline.settings import ensure_secret_file
from schemas.settings import Settings


def ensure_local_secrets(settings: Settings) -> list[str]:
    """Create the fingerprint secret and the decision signing key where missing (never
    overwriting); returns what was created."""
    created = []
    s = settings.secrets
    if s.fingerprint_secret is None and ensure_secret_file(s.fingerprint_secret_file):
        created.append(f"fingerprint secret {s.fingerprint_secret_file}")
    key = settings.decisions.signing_key_file
    if generate_signing_key(key):
        created.append(f"decision signing key {key} (public key {public_path(key)})")
    return created


@click.group("secrets")
def command() -> None:
    """Manage restguard's own secrets (never printed)."""


@command.command("init")
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the fingerprint secret (0600) and the Ed25519 decision signing key if missing.
    Enforcement points need only the public key (decisions.verify_key_files)."""
    created = ensure_local_secrets(settings_of(ctx))
    for item in created:
        note(f"created {item}")
    if not created:
        note("all secrets exist; left unchanged")
