"""`restguard decisions list|watch|block|revoke|lift`."""

from __future__ import annotations

import getpass
import threading
import time
from datetime import UTC, datetime

import click
import orjson

from pipeline.cli.common import note, parse_duration, print_table, settings_of
from pipeline.decisions.book import Entry, subject_key
from pipeline.decisions.live import DecisionsView
from pipeline.decisions.publish import manual_decision, publish_decisions
from pipeline.errors import KafkaUnavailableError
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.compacted import OnChange
from pipeline.kafka.registry import load_registry
from schemas.decision import Action, SubjectType
from schemas.settings import Settings


def _load(settings: Settings, on_change: OnChange[Entry] | None = None) -> DecisionsView:
    view = DecisionsView(settings, on_change).start()
    if not view.wait_synced(15):
        view.stop()
        raise KafkaUnavailableError(settings.kafka.bootstrap, "decisions did not load in time")
    return view


def _row(key: str, e: Entry) -> list[object]:
    kind, _, subject = key.partition(":")
    expires = (
        "never"
        if e.expires == float("inf")
        else datetime.fromtimestamp(e.expires, UTC).strftime("%Y-%m-%d %H:%M:%S")
    )
    return [kind, subject, e.action, e.rule, e.reason, expires, e.offense]


def _json(key: str, e: Entry) -> str:
    return orjson.dumps({**e.decision(key).model_dump(mode="json"), "key": key}).decode()


def _issuer() -> str:
    return f"cli:{getpass.getuser()}"


@click.group("decisions")
def command() -> None:
    """Live decisions: list, follow, and issue them by hand (signed, through Kafka)."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_decisions(ctx: click.Context, as_json: bool) -> None:
    """The decisions in force now."""
    view = _load(settings_of(ctx))
    try:
        active = sorted(view.active().items(), key=lambda kv: kv[1].issued)
    finally:
        view.stop()
    if as_json:
        for key, e in active:
            click.echo(_json(key, e))
        return
    print_table(
        ["type", "subject", "action", "rule", "reason", "expires (UTC)", "offense"],
        [_row(k, e) for k, e in active],
    )
    note(f"{len(active)} live decision(s)")


@command.command("watch")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def watch(ctx: click.Context, as_json: bool) -> None:
    """Print every decision as it arrives (Ctrl-C to stop)."""
    lock = threading.Lock()

    def show(key: str, e: Entry | None) -> None:
        with lock:
            if e is None:
                click.echo(
                    orjson.dumps({"key": key, "removed": True}).decode()
                    if as_json
                    else f"removed  {key}"
                )
            elif as_json:
                click.echo(_json(key, e))
            else:
                click.echo("  ".join(str(v) for v in _row(key, e)))

    view = _load(settings_of(ctx), show)
    note(f"watching ({len(view.active())} live); Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        view.stop()


def _subject(
    ip: str | None, user: str | None, credential: str | None, token_id: str | None
) -> tuple[SubjectType, str]:
    given = [
        (SubjectType.IP, ip),
        (SubjectType.USER, user),
        (SubjectType.CREDENTIAL, credential),
        (SubjectType.TOKEN_ID, token_id),
    ]
    chosen = [(t, v) for t, v in given if v]
    if len(chosen) != 1:
        raise click.UsageError("name exactly one of --ip, --user, --credential, --token-id")
    return chosen[0][0], str(chosen[0][1])


_subject_options = [
    click.option("--ip", default=None, help="A client address."),
    click.option("--user", default=None, help="A user name."),
    click.option("--credential", default=None, help="A credential fingerprint (hmac-sha256:…)."),
    click.option("--token-id", default=None, help="A JWT identity: ISSUER#JTI or ISSUER#SUB."),
]


def subject_options(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_subject_options):
        fn = option(fn)
    return fn


@command.command("block")
@subject_options
@click.option("--for", "duration", default="1h", show_default=True, help="e.g. 30m, 24h, 7d.")
@click.option("--reason", required=True)
@click.pass_context
def block(
    ctx: click.Context,
    ip: str | None,
    user: str | None,
    credential: str | None,
    token_id: str | None,
    duration: str,
    reason: str,
) -> None:
    """Block an address, user, credential or token everywhere."""
    settings = settings_of(ctx)
    ensure_topics(settings)
    kind, subject = _subject(ip, user, credential, token_id)
    d = manual_decision(
        kind, subject, Action.BLOCK, reason, parse_duration(duration), settings, _issuer()
    )
    publish_decisions(settings, [d])
    note(f"blocked {d.key} until {d.expires_at:%Y-%m-%d %H:%M:%S} UTC (decision {d.id})")


@command.command("revoke")
@click.option("--credential", default=None, help="A credential fingerprint.")
@click.option("--token-id", default=None, help="ISSUER#JTI or ISSUER#SUB.")
@click.option("--key", "key_id", default=None, help="A restguard key id (rgk_…) or PAT id.")
@click.option("--for", "duration", default=None, help="Default: for good.")
@click.option("--reason", required=True)
@click.pass_context
def revoke(
    ctx: click.Context,
    credential: str | None,
    token_id: str | None,
    key_id: str | None,
    duration: str | None,
    reason: str,
) -> None:
    """Revoke a credential or token everywhere (gateways and workers refuse it)."""
    settings = settings_of(ctx)
    ensure_topics(settings)
    if key_id:
        registry = load_registry(settings)
        try:
            match = next((r for r in registry.values() if r.key_id == key_id), None)
        finally:
            registry.stop()
        if match is None:
            raise click.BadParameter(f"no key {key_id!r} in the registry", param_hint="--key")
        credential = match.fingerprint
    kind, subject = _subject(None, None, credential, token_id)
    d = manual_decision(
        kind,
        subject,
        Action.REVOKE,
        reason,
        parse_duration(duration) if duration else None,
        settings,
        _issuer(),
    )
    publish_decisions(settings, [d])
    note(f"revoked {d.key} (decision {d.id})")


@command.command("lift")
@click.argument("key")
@click.option("--reason", default="lifted by hand", show_default=True)
@click.pass_context
def lift(ctx: click.Context, key: str, reason: str) -> None:
    """Lift the decision on KEY (e.g. ip:203.0.113.9, as `decisions list` shows it)."""
    settings = settings_of(ctx)
    kind, _, subject = key.partition(":")
    try:
        subject_type = SubjectType(kind)
    except ValueError:
        raise click.BadParameter(
            "KEY is TYPE:SUBJECT, TYPE one of ip, user, credential, token-id", param_hint="KEY"
        ) from None
    d = manual_decision(subject_type, subject, Action.LIFT, reason, None, settings, _issuer())
    # The signed lift takes effect; the tombstone then lets compaction forget the subject.
    publish_decisions(settings, [d], tombstones=[subject_key(subject_type, subject)])
    note(f"lifted {key} (decision {d.id})")
