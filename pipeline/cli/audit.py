"""`restguard audit search|stats|timeline|export|prune`: the audit history in Elasticsearch.

Times are shown in the local zone (`--utc` for UTC); every command has `--json`."""

from __future__ import annotations

import csv
import functools
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO

import click
import orjson

from pipeline.cli.common import (
    ProgressLine,
    note,
    parse_duration,
    parse_when,
    print_table,
    settings_of,
)
from pipeline.es.client import sync_client
from pipeline.es.query import AuditFilter, count_audit, search_audit
from pipeline.es.retention import prune_indices
from pipeline.es.scan import scan_audit
from pipeline.es.stats import audit_stats, search_decisions
from schemas.vocabulary import Scheme, Verdict

SPARK = "▁▂▃▄▅▆▇█"
CSV_COLUMNS = [
    "@timestamp",
    "event.id",
    "event.outcome",
    "source.ip",
    "user.name",
    "http.request.method",
    "url.path",
    "url.query",
    "http.response.status_code",
    "restguard.scheme",
    "restguard.fingerprint",
    "restguard.validation.outcome",
    "restguard.validation.reason",
    "restguard.verdict",
    "restguard.rule",
    "user_agent.original",
    "observer.name",
]


def local_zone(utc: bool) -> tzinfo:
    zone = UTC if utc else datetime.now().astimezone().tzinfo
    return zone or UTC


def zone_offset(zone: tzinfo) -> str:
    offset = datetime.now(zone).strftime("%z") or "+0000"
    return f"{offset[:3]}:{offset[3:]}"


def show_time(value: str | None, zone: tzinfo) -> str:
    """An RFC 3339 time in the display zone, to the second."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def sparkline(values: list[int]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    return "".join(
        SPARK[min(len(SPARK) - 1, v * len(SPARK) // (top + 1))] if v else " " for v in values
    )


def field(doc: dict[str, Any], dotted: str) -> Any:
    if dotted in doc:
        return doc[dotted]
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _row(doc: dict[str, Any], zone: tzinfo) -> list[Any]:
    return [
        show_time(doc.get("@timestamp"), zone),
        field(doc, "source.ip"),
        field(doc, "http.request.method"),
        field(doc, "url.path"),
        field(doc, "http.response.status_code"),
        field(doc, "restguard.scheme"),
        field(doc, "user.name"),
        field(doc, "restguard.validation.outcome"),
        field(doc, "restguard.verdict"),
    ]


_HEAD = ["time", "source", "method", "path", "status", "scheme", "user", "outcome", "verdict"]


def _time_options(fn: Any) -> Any:
    fn = click.option("--utc", is_flag=True, help="Show times in UTC (default: local zone).")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="JSON lines for scripts.")(fn)
    return fn


def _filter_options(fn: Any) -> Any:
    """The filter options, handed to the command as one AuditFilter `f`."""
    options = [
        click.option("--since", help="Start: a duration ago (7d, 24h) or an ISO time."),
        click.option("--until", help="End (exclusive): a duration ago or an ISO time."),
        click.option("--scheme", type=click.Choice([s.value for s in Scheme])),
        click.option(
            "--outcome", help="success|failure|unknown, or a validation outcome (expired, ...)."
        ),
        click.option("--verdict", type=click.Choice([v.value for v in Verdict])),
        click.option("--user", help="Exact user name."),
        click.option("--ip", help="Source address or CIDR range."),
        click.option("--path", "path_prefix", help="URL path prefix, e.g. /rest/api/2/"),
    ]

    @functools.wraps(fn)
    def with_filter(*args: Any, **kwargs: Any) -> Any:
        since, until = kwargs.pop("since"), kwargs.pop("until")
        terms = {name: kwargs.pop(name) for name in _FILTER_TERMS}
        return fn(*args, f=make_filter(since, until, **terms), **kwargs)

    for option in reversed(options):
        with_filter = option(with_filter)
    return with_filter


# The options of _filter_options that are AuditFilter terms; the command receives `f`.
_FILTER_TERMS = ("scheme", "outcome", "verdict", "user", "ip", "path_prefix")


def make_filter(since: str | None, until: str | None, **terms: Any) -> AuditFilter:
    return AuditFilter(
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        **terms,
    )


@click.group("audit")
def command() -> None:
    """Query the audit history."""


@command.command("search")
@_filter_options
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@_time_options
@click.pass_context
def search(
    ctx: click.Context,
    f: AuditFilter,
    limit: int,
    as_json: bool,
    utc: bool,
) -> None:
    """The newest audit records matching every given filter."""
    settings = settings_of(ctx)
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
    zone = local_zone(utc)
    print_table(_HEAD, [_row(d, zone) for d in docs])
    note(f"{len(docs)} record(s)")


@command.command("stats")
@click.option("--since", default="7d", show_default=True)
@click.option("--until", default=None)
@click.option(
    "--interval",
    type=click.Choice(["hour", "day"]),
    default=None,
    help="Buckets over time (default: hour up to 2 days, else day).",
)
@click.option("--top", type=click.IntRange(1, 100), default=10, show_default=True)
@_time_options
@click.pass_context
def stats(
    ctx: click.Context,
    since: str,
    until: str | None,
    interval: str | None,
    top: int,
    as_json: bool,
    utc: bool,
) -> None:
    """Counts by scheme, outcome and verdict over time; who still uses Basic and OAuth 1.0;
    the top failing addresses; registered credentials near expiry."""
    settings = settings_of(ctx)
    start = parse_when(since)
    end = parse_when(until) if until else datetime.now(UTC)
    interval = interval or ("hour" if end - start <= timedelta(days=2) else "day")
    zone = local_zone(utc)
    client = sync_client(settings.elasticsearch)
    try:
        s = audit_stats(
            client,
            settings.elasticsearch,
            AuditFilter(since=start, until=end),
            interval,
            zone_offset(zone),
            top,
        )
    finally:
        client.close()
    s["expiring_credentials"] = _expiring(ctx, days=14)
    if as_json:
        click.echo(orjson.dumps(s).decode())
        return
    click.echo(
        f"{s['total']:,} calls from {show_time(s['first'], zone)} to "
        f"{show_time(s['last'], zone)} ({'UTC' if utc else 'local time'}), "
        f"per {interval}:\n"
    )
    series = s["over_time"]
    rows = []
    for scheme, calls in s["schemes"].items():
        values = [b["schemes"].get(scheme, 0) for b in series]
        rows.append(
            [
                scheme,
                f"{calls:,}",
                f"{100 * calls / max(s['total'], 1):.1f}%",
                sparkline(values[-48:]),
            ]
        )
    print_table(["scheme", "calls", "share", f"per {interval}"], rows)
    click.echo("\nvalidation: " + ", ".join(f"{k} {v:,}" for k, v in s["outcomes"].items()))
    click.echo("verdicts:   " + ", ".join(f"{k} {v:,}" for k, v in s["verdicts"].items()))
    if s["failure_reasons"]:
        click.echo("\nfailures by reason:")
        print_table(["reason", "calls"], [[k, f"{v:,}"] for k, v in s["failure_reasons"].items()])
    click.echo("\nstill on Basic / OAuth 1.0 (the migration list):")
    print_table(
        ["user", "calls", "schemes", "addresses", "last seen", "verdicts", "client"],
        [
            [
                p["user"],
                f"{p['calls']:,}",
                ",".join(p["schemes"]),
                p["ips"],
                show_time(p["last_seen"], zone),
                ",".join(f"{k} {v}" for k, v in p["verdicts"].items()),
                (p["clients"] or [""])[0],
            ]
            for p in s["legacy_principals"]
        ],
    )
    click.echo("\ntop failing addresses:")
    print_table(
        ["address", "failures", "users", "last seen"],
        [
            [f["ip"], f"{f['failures']:,}", f["users"], show_time(f["last_seen"], zone)]
            for f in s["failing_ips"]
        ],
    )
    expiring = s["expiring_credentials"]
    if expiring is None:
        note("\n(credentials near expiry: the key registry on Kafka is not reachable)")
    else:
        click.echo("\nregistered credentials expiring within 14 days:")
        print_table(
            ["key id", "kind", "user", "expires"],
            [
                [k["key_id"], k["kind"], k["user"], show_time(k["expires_at"], zone)]
                for k in expiring
            ],
        )


def _expiring(ctx: click.Context, days: int) -> list[dict[str, Any]] | None:
    """Active registered keys expiring soon; None if the registry cannot be read."""
    from pipeline.errors import KafkaUnavailableError
    from pipeline.kafka.registry import load_registry

    settings = settings_of(ctx)
    try:
        view = load_registry(settings, timeout_s=5.0)
    except KafkaUnavailableError:
        return None
    try:
        soon = datetime.now(UTC) + timedelta(days=days)
        now = datetime.now(UTC)
        return [
            {
                "key_id": r.key_id,
                "kind": r.kind.value,
                "user": r.user,
                "expires_at": r.expires_at.isoformat(),
            }
            for r in sorted(view.values(), key=lambda r: r.expires_at or soon)
            if r.status.value == "active" and r.expires_at and now < r.expires_at <= soon
        ]
    finally:
        view.stop()


@command.command("timeline")
@click.option("--user", default=None)
@click.option("--credential", default=None, help="A fingerprint (hmac-sha256:…).")
@click.option("--ip", default=None)
@click.option("--since", default="30d", show_default=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@_time_options
@click.pass_context
def timeline(
    ctx: click.Context,
    user: str | None,
    credential: str | None,
    ip: str | None,
    since: str,
    limit: int,
    as_json: bool,
    utc: bool,
) -> None:
    """The history of one user, credential or address, with the decisions that touched it."""
    chosen = [(k, v) for k, v in (("user", user), ("credential", credential), ("ip", ip)) if v]
    if len(chosen) != 1:
        raise click.UsageError("name exactly one of --user, --credential, --ip")
    kind, value = chosen[0]
    settings = settings_of(ctx)
    start = parse_when(since)
    f = AuditFilter(since=start, user=user, fingerprint=credential, ip=ip)
    client = sync_client(settings.elasticsearch)
    try:
        docs = search_audit(client, settings.elasticsearch, f, limit)
        decisions = search_decisions(
            client,
            settings.elasticsearch,
            subject_type=kind,
            subject=value,
            since=start.isoformat(),
            limit=limit,
        )
    finally:
        client.close()
    items = [("call", d.get("@timestamp", ""), d) for d in docs]
    items += [("decision", d.get("issued_at", ""), d) for d in decisions]
    items.sort(key=lambda item: item[1])
    if as_json:
        for kind_, _, d in items:
            d.pop("_sort", None)
            click.echo(orjson.dumps({"type": kind_, **d}).decode())
        return
    zone = local_zone(utc)
    rows = []
    for kind_, when, d in items:
        if kind_ == "call":
            rows.append(_row(d, zone))
        else:
            rows.append(
                [
                    show_time(when, zone),
                    f"DECISION {d['action']}",
                    "",
                    d["rule"],
                    "",
                    "",
                    d["reason"],
                    "",
                    f"until {show_time(d.get('expires_at'), zone)}",
                ]
            )
    print_table(_HEAD, rows)
    note(f"{len(docs)} call(s), {len(decisions)} decision(s) for {kind} {value}")


@command.command("export")
@_filter_options
@click.option(
    "--format", "fmt", type=click.Choice(["ndjson", "csv"]), default="ndjson", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
)
@click.option(
    "--page-size",
    type=click.IntRange(10, 10_000),
    default=5000,
    show_default=True,
    help="Records per request to Elasticsearch.",
)
@click.pass_context
def export(
    ctx: click.Context,
    f: AuditFilter,
    fmt: str,
    output: str,
    page_size: int,
) -> None:
    """Stream every matching record (point-in-time + search_after: safe for millions)."""
    settings = settings_of(ctx)
    client = sync_client(settings.elasticsearch)
    out: TextIO = sys.stdout if output == "-" else Path(output).open("w", newline="")  # noqa: SIM115
    try:
        total = count_audit(client, settings.elasticsearch, f)
        bar = ProgressLine(None)
        written = 0
        for written, line in enumerate(
            _render(scan_audit(client, settings.elasticsearch, f, page=page_size), fmt), 1
        ):
            out.write(line)
            if written % 5000 == 0:
                bar.update(f"{written:,}/{total:,} records ({100 * written / max(total, 1):.0f}%)")
        bar.done()
    finally:
        client.close()
        if out is not sys.stdout:
            out.close()
    note(f"exported {written:,} of {total:,} records")


def _render(docs: Iterator[dict[str, Any]], fmt: str) -> Iterator[str]:
    if fmt == "ndjson":
        for doc in docs:
            yield orjson.dumps(doc).decode() + "\n"
        return

    class Line:
        value = ""

        def write(self, text: str) -> None:
            self.value = text

    buffer = Line()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.value
    for doc in docs:
        writer.writerow(["" if (v := field(doc, c)) is None else v for c in CSV_COLUMNS])
        yield buffer.value


@command.command("prune")
@click.option(
    "--older-than",
    default=None,
    help="Delete daily indices older than this (default: elasticsearch.retention_days).",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.pass_context
def prune(ctx: click.Context, older_than: str | None, dry_run: bool) -> None:
    """Delete whole daily audit indices (and monthly decision indices) past the retention."""
    settings = settings_of(ctx)
    keep = (
        parse_duration(older_than)
        if older_than
        else timedelta(days=settings.elasticsearch.retention_days)
    )
    client = sync_client(settings.elasticsearch)
    try:
        gone = prune_indices(client, settings.elasticsearch, datetime.now(UTC) - keep, dry_run)
    finally:
        client.close()
    for name in gone:
        click.echo(("would delete " if dry_run else "deleted ") + name)
    note(f"{len(gone)} index(es) {'to delete' if dry_run else 'deleted'}")
