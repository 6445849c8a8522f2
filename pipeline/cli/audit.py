"""`restguard audit …`: query the audit history in Elasticsearch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
import orjson

from pipeline.cli.common import parse_when, print_table, settings_of
from pipeline.es.client import sync_client
from pipeline.es.query import AuditFilter, search_audit
from schemas.vocabulary import Scheme, Verdict


def _row(doc: dict[str, Any]) -> list[Any]:
    rg = doc.get("restguard", {})
    return [
        doc.get("@timestamp", "")[:19].replace("T", " "),
        doc.get("source", {}).get("ip"),
        doc.get("http", {}).get("request", {}).get("method"),
        doc.get("url", {}).get("path"),
        doc.get("http", {}).get("response", {}).get("status_code"),
        rg.get("scheme"),
        doc.get("user", {}).get("name"),
        rg.get("validation", {}).get("outcome"),
        rg.get("verdict"),
    ]


@click.group("audit")
def command() -> None:
    """Query the audit history."""


@command.command("search")
@click.option("--since", help="Start: a duration ago (7d, 24h) or an ISO time.")
@click.option("--until", help="End (exclusive): a duration ago or an ISO time.")
@click.option("--scheme", type=click.Choice([s.value for s in Scheme]))
@click.option("--outcome", help="success|failure|unknown, or a validation outcome (expired, ...).")
@click.option("--verdict", type=click.Choice([v.value for v in Verdict]))
@click.option("--user", help="Exact user name.")
@click.option("--ip", help="Source address or CIDR range.")
@click.option("--path", "path_prefix", help="URL path prefix, e.g. /rest/api/2/")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON audit record per line.")
@click.pass_context
def search(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    scheme: str | None,
    outcome: str | None,
    verdict: str | None,
    user: str | None,
    ip: str | None,
    path_prefix: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest audit records matching every given filter."""
    settings = settings_of(ctx)
    start: datetime | None = parse_when(since) if since else None
    end: datetime | None = parse_when(until) if until else None
    f = AuditFilter(
        since=start,
        until=end,
        scheme=scheme,
        outcome=outcome,
        verdict=verdict,
        user=user,
        ip=ip,
        path_prefix=path_prefix,
    )
    client = sync_client(settings.elasticsearch)
    try:
        try:
            docs = search_audit(client, settings.elasticsearch, f, limit)
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
    finally:
        client.close()
    if as_json:
        for doc in docs:
            click.echo(orjson.dumps(doc).decode())
        return
    print_table(
        [
            "time (UTC)",
            "source",
            "method",
            "path",
            "status",
            "scheme",
            "user",
            "outcome",
            "verdict",
        ],
        [_row(d) for d in docs],
    )
    click.echo(f"{len(docs)} record(s)", err=True)
