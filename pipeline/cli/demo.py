"""`restguard demo`: services up, a worker, a realistic sample ingested, a summary from
Elasticsearch."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import orjson
from elasticsearch import Elasticsearch

from pipeline.auth.fingerprint import Fingerprinter
from pipeline.cli.common import note, print_table, settings_of
from pipeline.cli.secrets import ensure_local_secrets
from pipeline.cli.services import worker_process
from pipeline.errors import RestguardError
from pipeline.es.client import sync_client
from pipeline.es.query import AuditFilter, count_audit
from pipeline.es.stats import scheme_summary
from pipeline.ingest.lines import read_lines
from pipeline.ingest.run import ingest
from pipeline.kafka.producer import Producer
from pipeline.kafka.registry import publish
from pipeline.sample import ISSUERS, SampleTraffic, issuer_jwks
from pipeline.services import local_services
from pipeline.settings import fingerprint_secret
from pipeline.worker import prepare
from schemas.credential import CredentialEvent, CredentialKind
from schemas.settings import Settings


@click.command("demo")
@click.option(
    "--events",
    type=click.IntRange(1, 5_000_000),
    default=5000,
    show_default=True,
    help="How many sample requests to send through the pipeline.",
)
@click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for every event to be indexed.",
)
@click.pass_context
def command(ctx: click.Context, events: int, timeout: float) -> None:
    """Run the whole pipeline on a realistic sample of Jira/Confluence REST traffic."""
    settings = settings_of(ctx)
    for item in ensure_local_secrets(settings):
        note(f"created {item}")
    for svc in local_services(settings.local):
        note(f"{svc.name}: {svc.start(note)}")
    prepare(settings)
    _demo_identities(settings)

    worker = worker_process(settings.local.home)
    if worker.pid() is None:
        argv = [sys.executable, "-m", "pipeline", "worker", "--loglevel", "warn"]
        config = ctx.find_root().obj.get("config")
        env = {"RESTGUARD_CONFIG": str(Path(config).resolve())} if config else None
        worker.start(argv, env=env)
        note(f"worker: started (log {worker.log_file})")
    else:
        note("worker: already running")

    run = datetime.now(UTC).strftime("demo-%Y%m%dT%H%M%S")
    sample = Path("var/demo") / f"{run}.jsonl"
    sample.parent.mkdir(parents=True, exist_ok=True)
    start = datetime.now(UTC) - timedelta(hours=1)
    with sample.open("wb") as fh:
        for event in SampleTraffic(seed=7, start=start).events(
            events, spacing_ms=3_600_000 / events
        ):
            fh.write(orjson.dumps(event) + b"\n")
    note(f"sample: {events} requests of Jira/Confluence REST traffic in {sample}")

    with sample.open("rb") as fh, Producer(settings.kafka) as producer:
        summary = ingest(
            read_lines(fh), producer, settings, fmt="json", source=sample.name, gateway=run
        )
    if producer.failed:
        raise RestguardError(f"Kafka refused {producer.failed} records: {producer.last_error}")
    note(
        f"ingest: {summary.events} events in {summary.records} Kafka records "
        f"({summary.rate:,.0f} lines/s)"
    )

    client = sync_client(settings.elasticsearch)
    try:
        deadline = time.monotonic() + timeout
        indexed = 0
        while time.monotonic() < deadline:
            client.indices.refresh(
                index=f"{settings.elasticsearch.index_prefix}-audit-*",
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            indexed = count_audit(client, settings.elasticsearch, AuditFilter(gateway=run))
            note(f"index: {indexed}/{summary.events} audit records in Elasticsearch")
            if indexed >= summary.events:
                break
            if worker.pid() is None:
                raise RestguardError(
                    f"the worker exited; see {worker.log_file}:\n{worker.log_tail()}"
                )
            time.sleep(2)
        else:
            raise RestguardError(
                f"only {indexed}/{summary.events} records indexed after "
                f"{timeout:.0f}s; see {worker.log_file}"
            )
        _print_summary(client, settings, run)
    finally:
        client.close()
    click.echo(
        "\nNext: restguard audit search --scheme basic   ·   restguard check < your.jsonl"
        "   ·   restguard services down"
    )


def _demo_identities(settings: Settings) -> None:
    """Write the sample issuers' public keys (for deploy/local/demo.toml) and register one of
    the sample's two API keys, so the demo shows both a valid and an unknown key."""
    traffic = SampleTraffic(seed=7)  # the same seed as the events: the same keys
    Path("var/demo").mkdir(parents=True, exist_ok=True)
    for issuer in ISSUERS:
        host = issuer.split("/")[2]
        Path(f"var/demo/jwks-{host}.json").write_bytes(orjson.dumps(issuer_jwks(7, issuer)))
    user, key = traffic.api_keys()[0]
    fp = Fingerprinter(fingerprint_secret(settings))(key)
    now = datetime.now(UTC)
    publish(
        settings,
        [
            CredentialEvent(
                fingerprint=fp,
                key_id=f"rgk_{key.split('_')[1]}",
                kind=CredentialKind.API_KEY,
                user=user,
                scopes=["read:jira", "write:jira"],
                created_at=now,
                expires_at=now + timedelta(days=30),
                description="registered by the demo",
            )
        ],
    )


def _print_summary(client: Elasticsearch, settings: Settings, run: str) -> None:
    s = scheme_summary(client, settings.elasticsearch, AuditFilter(gateway=run))
    click.echo(f"\n{s['total']} calls audited, by authentication scheme:\n")
    print_table(
        ["scheme", "calls", "principals", "source IPs", "top principals"],
        [
            [
                b["scheme"],
                b["calls"],
                b["principals"],
                b["ips"],
                ", ".join(f"{k} ({v})" for k, v in b["top"]),
            ]
            for b in s["schemes"]
        ],
    )
    click.echo("\nvalidation outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()))
    click.echo("policy verdicts:     " + ", ".join(f"{k} {v}" for k, v in s["verdicts"].items()))
