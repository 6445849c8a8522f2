"""`restguard check`: the pipeline's classification, validation and policy, offline."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click
import orjson

from pipeline.audit import credential_doc
from pipeline.cli.common import note, settings_of
from pipeline.cli.ingest import open_input
from pipeline.core import Processor, build_processor
from pipeline.errors import InvalidEventError
from pipeline.ingest.formats import formats, parser_for
from pipeline.ingest.lines import events_of, read_lines, source_name
from pipeline.settings import fingerprint_secret
from schemas.request import RequestEvent


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


@click.command("check")
@click.argument("file", default="-")
@click.option("--format", "fmt", type=click.Choice(formats()), default="json", show_default=True)
@click.pass_context
def command(ctx: click.Context, file: str, fmt: str) -> None:
    """Dry-run FILE (or stdin): one JSON line per event with its scheme, credentials (as
    fingerprints), principal, validation outcome and verdict. No Kafka needed."""
    settings = settings_of(ctx)
    processor = build_processor(settings, fingerprint_secret(settings))
    stream, path, _ = open_input(file)
    schemes: Counter[str] = Counter()
    bad = 0
    with stream:
        for line, parsed in events_of(read_lines(stream), parser_for(fmt), source_name(path)):
            if isinstance(parsed, InvalidEventError):
                bad += 1
                out: dict[str, Any] = {"line": line.number, "error": parsed.reason}
            else:
                out = {"line": line.number, **check_result(processor, parsed)}
                schemes[out["scheme"]] += 1
            click.echo(orjson.dumps(out).decode())
    summary = ", ".join(f"{k} {v}" for k, v in schemes.most_common())
    note(f"checked {sum(schemes.values())} events ({summary or 'none'}); {bad} unparseable")
