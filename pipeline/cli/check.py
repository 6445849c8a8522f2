"""`restguard check`: the pipeline's classification, validation and policy, offline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import click
import orjson

from pipeline.audit import credential_doc
from pipeline.auth.seal import opener_from
from pipeline.auth.sealed import try_open
from pipeline.cli.common import note, settings_of
from pipeline.cli.ingest import open_input
from pipeline.core import Processor, build_processor
from pipeline.errors import InvalidEventError, KafkaUnavailableError
from pipeline.ingest.formats import formats, parser_for
from pipeline.ingest.lines import events_of, read_lines, source_name
from pipeline.kafka.registry import load_registry
from pipeline.settings import fingerprint_secret
from schemas.credential import CredentialEvent
from schemas.request import RequestEvent
from schemas.settings import Settings


def check_result(processor: Processor, event: RequestEvent) -> dict[str, Any]:
    """One output line: what the agents would record for this event."""
    cls, check, ruling = processor.evaluate(event)
    return {
        "event_id": event.event_id,
        "client_ip": cls.client_ip,
        "scheme": cls.scheme.value,
        "credentials": [credential_doc(c) for c in cls.credentials],
        "principal": check.principal or cls.principal,
        "fingerprint": cls.fingerprint,
        "token_id": cls.token_id,
        "outcome": check.outcome.value,
        "reason": check.reason,
        "verdict": ruling.verdict.value,
        "rule": ruling.rule,
    }


def _registry(settings: Settings, wanted: bool) -> Mapping[str, CredentialEvent]:
    if not wanted:
        return {}
    try:
        view = load_registry(settings, timeout_s=5.0)
    except KafkaUnavailableError as err:
        note(f"key registry unavailable ({err.detail}): restguard keys are judged unknown")
        return {}
    records = dict(view)
    view.stop()
    return records


@click.command("check")
@click.argument("file", default="-")
@click.option("--format", "fmt", type=click.Choice(formats()), default="json", show_default=True)
@click.option(
    "--registry/--no-registry",
    default=True,
    show_default=True,
    help="Read the key registry from Kafka (if reachable) to judge API keys.",
)
@click.pass_context
def command(ctx: click.Context, file: str, fmt: str, registry: bool) -> None:
    """Dry-run FILE (or stdin) through the agents' own code: one JSON line per event with its
    scheme, credentials (as fingerprints), principal, validation outcome and reason, verdict and
    rule. Sealed credentials are opened with the private keys that exist
    (secrets.seal_private_key_files). Nothing is written anywhere; Kafka is only read for the
    key registry."""
    settings = settings_of(ctx)
    processor = build_processor(
        settings, fingerprint_secret(settings), registry=_registry(settings, registry)
    )
    opener = opener_from(settings.secrets)
    stream, path, _ = open_input(file)
    schemes: Counter[str] = Counter()
    rulings: Counter[str] = Counter()
    bad = 0
    with stream:
        for line, event in events_of(read_lines(stream), parser_for(fmt), source_name(path)):
            parsed = event if isinstance(event, InvalidEventError) else try_open(event, opener)
            if isinstance(parsed, InvalidEventError):
                bad += 1
                out: dict[str, Any] = {"line": line.number, "error": parsed.reason}
            else:
                out = {"line": line.number, **check_result(processor, parsed)}
                schemes[out["scheme"]] += 1
                rulings[out["verdict"]] += 1
            click.echo(orjson.dumps(out).decode())
    summary = ", ".join(f"{k} {v}" for k, v in schemes.most_common())
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(rulings.items()))
    note(
        f"checked {sum(schemes.values())} events ({summary or 'none'}); verdicts: "
        f"{verdicts or 'none'}; {bad} unparseable"
    )
