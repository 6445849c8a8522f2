"""`e2e`: events/s from the requests topic to Elasticsearch, every event indexed exactly once,
with 1 and 2 workers; and `ingest`: log lines/s from a file to Kafka, per format."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from pipeline import sandbox
from pipeline.bench.mix import build_mix
from pipeline.bench.stats import Figure
from pipeline.decisions.signing import generate_signing_key
from pipeline.ingest.lines import read_lines
from pipeline.ingest.run import ingest
from pipeline.kafka.producer import Producer
from pipeline.kafka.registry import publish
from pipeline.services import local_services
from pipeline.wire import pack
from schemas.settings import Settings, WorkerSettings

SECRET = "bench-fingerprint-secret-0123456789"  # noqa: S105 - benchmark namespaces only
E2E_TARGET = 20_000.0
Note = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def _namespace(
    workdir: Path, partitions: int = 4, extra: dict[str, Any] | None = None
) -> sandbox.Namespace:
    key = workdir / "decisions.pem"
    generate_signing_key(key)
    # Benchmarks measure the product's defaults, not the test namespaces' tuning.
    defaults = {"worker": {"batch_within_s": WorkerSettings().batch_within_s}}
    return sandbox.Namespace(
        secret=SECRET,
        signing_key=key,
        prefix="rgbench",
        partitions=partitions,
        extra={**defaults, **(extra or {})},
    )


def _produce(ns: sandbox.Namespace, lines: list[bytes], pack_size: int = 200) -> None:
    settings = ns.settings()
    with Producer(settings.kafka) as producer:
        for i in range(0, len(lines), pack_size):
            producer.send(settings.topics.requests, pack(lines[i : i + pack_size]))
        producer.flush()
        if producer.failed:
            raise RuntimeError(f"Kafka refused {producer.failed} records: {producer.last_error}")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class E2ERun:
    rate: float  # events/s
    # CPU milliseconds per 1,000 events, by process: where a core's time goes.
    cpu_ms_per_k: dict[str, float] = field(default_factory=dict)


def _service_pids(settings: Settings) -> dict[str, int | None]:
    pids: dict[str, int | None] = {}
    for svc in local_services(settings.local):
        process = getattr(svc, "process", None)
        pids[type(svc).__name__.removeprefix("Local").lower()] = (
            process.pid() if process is not None else None
        )
    return pids


def run_e2e(
    events: int, workers: int, workdir: Path, note: Note = _quiet, timeout_s: float = 900.0
) -> E2ERun:
    """One run: fill a fresh requests topic, start the workers, time until Elasticsearch holds
    every event once. Returns events/s and the CPU each process spent per 1,000 events."""
    mix = build_mix(events, workdir, SECRET.encode(), seed=workers)
    extra = {
        "validation": mix.settings.validation.model_dump(mode="json"),
        "policy": mix.settings.policy.model_dump(mode="json"),
    }
    ns = _namespace(workdir, partitions=4, extra=extra)
    settings = ns.create()
    procs: list[sandbox.Worker] = []
    try:
        publish(settings, list(mix.registry.values()))
        _produce(ns, mix.lines())
        note(f"  {events:,} events on {settings.topics.requests}; starting {workers} worker(s)")
        procs = [
            sandbox.Worker(ns, workdir / f"worker-{workers}-{i}.log", f"w{i}").start()
            for i in range(workers)
        ]
        pids = _service_pids(settings)
        pids.update({f"worker {i + 1}": p.proc.pid for i, p in enumerate(procs) if p.proc})
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        start = time.monotonic()
        deadline = start + timeout_s
        count = 0
        while count < events:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {count}/{events} indexed after {timeout_s:.0f}s")
            time.sleep(0.5)
            count = sandbox.audit_count(settings)
        elapsed = time.monotonic() - start
        cpu = {
            name: round((cpu_seconds(pid) - cpu_before[name]) * 1e6 / events, 1)
            for name, pid in pids.items()
        }
        time.sleep(2.0)
        final = sandbox.audit_count(settings)
        if final != events:
            raise RuntimeError(f"{final} documents for {events} events: not exactly once")
        return E2ERun(events / elapsed, cpu)
    finally:
        for p in procs:
            p.stop()
        ns.remove()


def bench_e2e(events: int = 100_000, runs: int = 3, note: Note = _quiet) -> list[Figure]:
    figures = []
    for workers in (1, 2):
        rates = []
        cpu: dict[str, list[float]] = {}
        for run in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                result = run_e2e(events, workers, Path(tmp), note)
            spent = ", ".join(f"{k} {v:.0f}" for k, v in result.cpu_ms_per_k.items())
            note(
                f"  e2e {workers} worker(s) run {run + 1}: {result.rate:,.0f} events/s "
                f"(CPU ms per 1k events: {spent})"
            )
            rates.append(result.rate)
            for name, ms in result.cpu_ms_per_k.items():
                cpu.setdefault(name, []).append(ms)
        fig = Figure(
            f"e2e, {workers} worker{'s' if workers > 1 else ''}",
            "events/s",
            rates,
            target=f">= {E2E_TARGET:,.0f} events/s",
        )
        fig.met = fig.median >= E2E_TARGET
        fig.notes["events_per_run"] = events
        fig.notes["cpu_ms_per_1k_events"] = {k: statistics.median(v) for k, v in cpu.items()}
        total = sum(fig.notes["cpu_ms_per_1k_events"].values())
        if total > 0:  # the rate these cores could give if nothing else ran and nothing waited
            fig.notes["cpu_bound_ceiling_events_s"] = round((os.cpu_count() or 1) * 1e6 / total)
        figures.append(fig)
    if len(figures) == 2:
        figures[1].notes["ratio_to_one_worker"] = round(figures[1].median / figures[0].median, 2)
    return figures


# -- ingest --------------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_lines(fmt: str, n: int, workdir: Path) -> Path:
    """n lines of the given log format, from the benchmark mix."""
    mix = build_mix(n, workdir, SECRET.encode(), seed=7)
    path = workdir / f"access.{fmt}"
    with path.open("wb") as fh:
        for e in mix.events:
            t = e.timestamp.astimezone(UTC)
            clf = f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"
            target = e.path + (f"?{e.query}" if e.query else "")
            if fmt == "json":
                fh.write(e.model_dump_json(exclude_none=True).encode() + b"\n")
            elif fmt == "nginx":
                fh.write(
                    f'{e.client_ip} - - [{clf}] "{e.method} {target} HTTP/1.1" {e.status} '
                    f'512 "-" "{e.user_agent}"\n'.encode()
                )
            else:
                fh.write(
                    f'{e.client_ip} 1x{e.event_id}x1 - [{clf}] "{e.method} {target} '
                    f'HTTP/1.1" {e.status} 512 12 "-" "{e.user_agent}" "-"\n'.encode()
                )
    return path


def bench_ingest(lines: int = 100_000, runs: int = 3, note: Note = _quiet) -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ns = _namespace(workdir)
        settings = ns.create()
        try:
            for fmt in ("json", "nginx", "jira"):
                path = format_lines(fmt, lines, workdir)
                rates = []
                for _ in range(runs):
                    start = time.monotonic()
                    with path.open("rb") as fh, Producer(settings.kafka) as producer:
                        summary = ingest(
                            read_lines(fh), producer, settings, fmt=fmt, source=path.name
                        )
                    if summary.events != lines or producer.failed:
                        raise RuntimeError(
                            f"{fmt}: {summary.events}/{lines} events, {producer.failed} refused"
                        )
                    rates.append(lines / (time.monotonic() - start))
                note(f"  ingest {fmt}: {sorted(rates)[len(rates) // 2]:,.0f} lines/s")
                figures.append(
                    Figure(f"ingest {fmt}", "lines/s", rates, notes={"lines_per_run": lines})
                )
        finally:
            ns.remove()
    return figures
