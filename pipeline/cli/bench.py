"""`restguard bench`: the benchmarks, each figure the median of repeated runs with its spread."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from pipeline.bench.core import bench_core
from pipeline.bench.e2e import bench_e2e, bench_ingest
from pipeline.bench.latency import bench_check, bench_revocation
from pipeline.bench.peers import generate, run_restguard, table
from pipeline.bench.stats import Figure
from pipeline.cli.common import note, settings_of
from pipeline.services import local_services
from schemas.settings import Settings

ALL = ("core", "check", "ingest", "revocation", "e2e")


@click.command("bench")
@click.argument("which", nargs=-1, type=click.Choice([*ALL, "all", "peers"]))
@click.option(
    "--runs",
    type=click.IntRange(1, 50),
    default=3,
    show_default=True,
    help="Repeated runs per figure (the median is reported).",
)
@click.option(
    "--events",
    type=click.IntRange(1000, 10_000_000),
    default=100_000,
    show_default=True,
    help="Events per e2e run (core uses twice as many).",
)
@click.option(
    "--lines",
    type=click.IntRange(20_000, 10_000_000),
    default=1_000_000,
    show_default=True,
    help="peers: lines of the synthetic Jira access log.",
)
@click.option(
    "--peers-out",
    type=click.Path(file_okay=False),
    default="var/peers",
    show_default=True,
    help="peers: the folder shared with shared/bench/peers/run.sh (OUT=…).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="peers: restguard workers.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Also write the JSON to this file."
)
@click.pass_context
def command(
    ctx: click.Context,
    which: tuple[str, ...],
    runs: int,
    events: int,
    lines: int,
    peers_out: str,
    workers: int,
    as_json: bool,
    out: str | None,
) -> None:
    """Measure restguard on this machine: core (classify + validate + policy on one core),
    check (the SDK with 1M decisions), ingest (lines/s per format), revocation (p50/p99 to a
    refusal) and e2e (requests topic → Elasticsearch, 1 and 2 workers). Default: all.
    `peers` (not part of all) runs restguard on the fail2ban/CrowdSec comparison log."""
    settings = settings_of(ctx)
    if "peers" in which:
        _ensure_services(settings)
        _peers(lines, Path(peers_out), workers, as_json)
        if set(which) == {"peers"}:
            return
    chosen = ALL if not which or "all" in which else tuple(w for w in ALL if w in which)
    if any(w in chosen for w in ("ingest", "revocation", "e2e")):
        for svc in local_services(settings.local):
            healthy, _ = svc.status()
            if not healthy:
                note(f"{svc.name}: {svc.start(note)}")
    progress = note if not as_json else (lambda _: None)
    figures: list[Figure] = []
    for name in chosen:
        note(f"bench {name} …")
        if name == "core":
            figures.append(bench_core(events=2 * events, runs=max(runs, 3)))
        elif name == "check":
            figures += bench_check(runs=max(runs, 5), note=progress)
        elif name == "ingest":
            figures += bench_ingest(lines=events, runs=runs, note=progress)
        elif name == "revocation":
            figures += bench_revocation(trials=max(20, runs * 20), note=progress)
        elif name == "e2e":
            figures += bench_e2e(events=events, runs=runs, note=progress)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "figures": [f.as_dict() for f in figures],
    }
    if out:
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{'figure':<34} {'median':>12} {'unit':<10} {'[min … max]':<28}")
    for f in figures:
        click.echo(f.line())


def _ensure_services(settings: Settings) -> None:
    for svc in local_services(settings.local):
        healthy, _ = svc.status()
        if not healthy:
            note(f"{svc.name}: {svc.start(note)}")


def _peers(lines: int, out: Path, workers: int, as_json: bool) -> None:
    """restguard on the peers' log; the peers' own table with fail2ban and CrowdSec results
    found in the same folder (run shared/bench/peers/run.sh with OUT= that folder)."""
    note(f"bench peers: {lines:,} lines of synthetic Jira access log in {out}")
    log, truth = generate(lines, out)
    results = out / f"results-{lines}-s42"
    result = run_restguard(log, truth, results, workers, note)
    note(
        f"  restguard: {result['lines'] / result['wall_s']:,.0f} lines/s to decisions, "
        f"{len(result['banned_ips'])} addresses blocked, rules {result['decisions_by_rule']}"
    )
    if as_json:
        click.echo(json.dumps({k: v for k, v in result.items() if k != "banned_ips"}, indent=2))
    else:
        click.echo(table(truth, results))
