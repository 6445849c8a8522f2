"""`restguard keys issue|list|revoke|rotate|register`: the credential registry."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime

import click
import orjson

from pipeline.auth.fingerprint import Fingerprinter
from pipeline.auth.keys import new_key
from pipeline.cli.common import note, parse_duration, print_table, settings_of
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.registry import load_registry, publish
from pipeline.settings import fingerprint_secret
from schemas.credential import CredentialEvent, CredentialKind, CredentialStatus
from schemas.settings import Settings


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _find(settings: Settings, key_id: str) -> CredentialEvent:
    view = load_registry(settings)
    try:
        for record in view.values():
            if record.key_id == key_id:
                return record
    finally:
        view.stop()
    raise click.BadParameter(f"no key {key_id!r} in the registry", param_hint="KEY_ID")


@click.group("keys")
def command() -> None:
    """Issue, list, revoke and rotate API keys; register personal access tokens."""


_restrictions = [
    click.option("--scopes", multiple=True, help="Scopes, comma-separated or repeated."),
    click.option(
        "--expires", default="90d", show_default=True, help="Lifetime (30d, 12h) or 'never'."
    ),
    click.option("--ip", "ips", multiple=True, help="Allowed network (CIDR); repeatable."),
    click.option("--path", "paths", multiple=True, help="Allowed path glob; repeatable."),
    click.option("--description", default=None),
]


def restrictions(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_restrictions):
        fn = option(fn)
    return fn


def _expiry(expires: str, now: datetime) -> datetime | None:
    return None if expires == "never" else now + parse_duration(expires)


@command.command("issue")
@click.option("--user", required=True, help="Who the key acts for.")
@restrictions
@click.pass_context
def issue(
    ctx: click.Context,
    user: str,
    scopes: tuple[str, ...],
    expires: str,
    ips: tuple[str, ...],
    paths: tuple[str, ...],
    description: str | None,
) -> None:
    """Issue an API key; it is printed once and only its fingerprint is stored."""
    settings = settings_of(ctx)
    ensure_topics(settings)
    key = new_key(Fingerprinter(fingerprint_secret(settings)))
    now = datetime.now(UTC)
    record = CredentialEvent.model_validate(
        {
            "fingerprint": key.fingerprint,
            "key_id": key.key_id,
            "kind": CredentialKind.API_KEY,
            "user": user,
            "scopes": _split(scopes),
            "ip_ranges": _split(ips),
            "paths": _split(paths),
            "created_at": now,
            "expires_at": _expiry(expires, now),
            "description": description,
        }
    )
    publish(settings, [record])
    note(f"issued {key.key_id} for {user}; store the key now, it is not shown again:")
    click.echo(key.secret)


@command.command("register")
@click.option("--user", required=True)
@click.option(
    "--kind", type=click.Choice([k.value for k in CredentialKind]), default="pat", show_default=True
)
@restrictions
@click.pass_context
def register(
    ctx: click.Context,
    user: str,
    kind: str,
    scopes: tuple[str, ...],
    expires: str,
    ips: tuple[str, ...],
    paths: tuple[str, ...],
    description: str | None,
) -> None:
    """Register an existing token (e.g. a Jira personal access token), read from stdin, so it is
    validated like restguard's own keys. Only its fingerprint is stored."""
    settings = settings_of(ctx)
    ensure_topics(settings)
    token = getpass.getpass("token: ") if sys.stdin.isatty() else sys.stdin.readline()
    token = token.strip()
    if not token:
        raise click.BadParameter("no token on stdin")
    fp = Fingerprinter(fingerprint_secret(settings))(token)
    now = datetime.now(UTC)
    record = CredentialEvent.model_validate(
        {
            "fingerprint": fp,
            "key_id": f"{kind}_{fp[-10:]}",
            "kind": kind,
            "user": user,
            "scopes": _split(scopes),
            "ip_ranges": _split(ips),
            "paths": _split(paths),
            "created_at": now,
            "expires_at": _expiry(expires, now),
            "description": description,
        }
    )
    publish(settings, [record])
    note(f"registered {record.key_id} for {user}")


@command.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked and expired keys.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_keys(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """The registry (never any secret: none is stored)."""
    settings = settings_of(ctx)
    view = load_registry(settings)
    try:
        records = sorted(view.values(), key=lambda r: r.created_at)
    finally:
        view.stop()
    now = datetime.now(UTC)

    def state(r: CredentialEvent) -> str:
        if r.status is CredentialStatus.REVOKED:
            return "revoked"
        return "expired" if r.expires_at and r.expires_at <= now else "active"

    shown = [r for r in records if show_all or state(r) == "active"]
    if as_json:
        for r in shown:
            click.echo(orjson.dumps({**r.model_dump(mode="json"), "state": state(r)}).decode())
        return
    print_table(
        ["key id", "kind", "user", "state", "scopes", "expires (UTC)", "restrictions"],
        [
            [
                r.key_id,
                r.kind.value,
                r.user,
                state(r),
                ",".join(r.scopes),
                r.expires_at.strftime("%Y-%m-%d %H:%M") if r.expires_at else "never",
                " ".join([*map(str, r.ip_ranges), *r.paths]),
            ]
            for r in shown
        ],
    )


@command.command("revoke")
@click.argument("key_id")
@click.option("--reason", default=None)
@click.pass_context
def revoke(ctx: click.Context, key_id: str, reason: str | None) -> None:
    """Revoke a key everywhere: every worker refuses it within a second."""
    settings = settings_of(ctx)
    record = _find(settings, key_id)
    now = datetime.now(UTC)
    publish(
        settings,
        [
            record.model_copy(
                update={"status": CredentialStatus.REVOKED, "revoked_at": now, "reason": reason}
            )
        ],
    )
    note(f"revoked {key_id}")


@command.command("rotate")
@click.argument("key_id")
@click.option("--expires", default="90d", show_default=True)
@click.option(
    "--grace",
    default=None,
    help="Keep the old key valid this long (e.g. 24h); default: revoke it now.",
)
@click.pass_context
def rotate(ctx: click.Context, key_id: str, expires: str, grace: str | None) -> None:
    """Issue a successor with the same user, scopes and restrictions; retire the old key."""
    settings = settings_of(ctx)
    old = _find(settings, key_id)
    key = new_key(Fingerprinter(fingerprint_secret(settings)))
    now = datetime.now(UTC)
    successor = old.model_copy(
        update={
            "fingerprint": key.fingerprint,
            "key_id": key.key_id,
            "created_at": now,
            "expires_at": _expiry(expires, now),
            "status": CredentialStatus.ACTIVE,
            "revoked_at": None,
            "reason": None,
            "replaced_by": None,
        }
    )
    if grace:
        until = now + parse_duration(grace)
        retired = old.model_copy(
            update={
                "expires_at": min(until, old.expires_at) if old.expires_at else until,
                "replaced_by": key.key_id,
            }
        )
    else:
        retired = old.model_copy(
            update={
                "status": CredentialStatus.REVOKED,
                "revoked_at": now,
                "reason": "rotated",
                "replaced_by": key.key_id,
            }
        )
    publish(settings, [successor, retired])
    note(f"rotated {key_id} → {key.key_id}; store the new key now, it is not shown again:")
    click.echo(key.secret)
