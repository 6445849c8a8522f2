"""`restguard secrets init|seal-key`: create the local secret files."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.auth.seal import generate_seal_key, key_id, load_public_key
from pipeline.cli.common import note, settings_of
from pipeline.decisions.signing import generate_signing_key, public_path
from pipeline.settings import ensure_secret_file
from schemas.settings import Settings


def ensure_local_secrets(settings: Settings) -> list[str]:
    """Create the fingerprint secret, the decision signing key and the credential sealing key
    where missing (never overwriting); returns what was created."""
    created = []
    s = settings.secrets
    if s.fingerprint_secret is None and ensure_secret_file(s.fingerprint_secret_file):
        created.append(f"fingerprint secret {s.fingerprint_secret_file}")
    key = settings.decisions.signing_key_file
    if generate_signing_key(key):
        created.append(f"decision signing key {key} (public key {public_path(key)})")
    if s.seal_private_key_files and generate_seal_key(
        s.seal_private_key_files[0], s.seal_public_key_file
    ):
        created.append(
            f"credential sealing key {s.seal_private_key_files[0]} (public key "
            f"{s.seal_public_key_file})"
        )
    return created


@click.group("secrets")
def command() -> None:
    """Manage restguard's own secrets (never printed)."""


@command.command("init")
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the fingerprint secret (0600), the Ed25519 decision signing key and the X25519
    credential sealing key if missing. Enforcement points need only the public key
    (decisions.verify_key_files); gateways only the sealing public key
    (secrets.seal_public_key_file)."""
    created = ensure_local_secrets(settings_of(ctx))
    for item in created:
        note(f"created {item}")
    if not created:
        note("all secrets exist; left unchanged")


@command.command("seal-key")
@click.argument("private", type=click.Path(dir_okay=False, path_type=Path))
def seal_key(private: Path) -> None:
    """Create a new X25519 sealing key pair for a rotation: PRIVATE (0600) and its public key
    beside it (.pub.pem). Give workers the new key first in secrets.seal_private_key_files
    (keep the old one after it), then point the gateways' secrets.seal_public_key_file at the
    new public key; drop the old key once the requests topic's retention has passed."""
    public = public_path(private)
    if not generate_seal_key(private, public):
        raise click.ClickException(f"{private} or {public} exists; left unchanged")
    note(f"created {private} (public key {public}, key id {key_id(load_public_key(public))})")
