"""restguard beside fail2ban and CrowdSec on the same synthetic Jira access log
(shared/bench/peers): the nginx log ingested, detected by real workers, decisions read back
from the decisions topic, scored by the peers' own analyze.py.

The result is written in the peers' format (`banned_ips`: IP → epoch of its first block, by
the event time of the evidence), so `analyze.py table` puts the three tools in one table."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline import __version__, sandbox
from pipeline.bench.e2e import Note, _namespace, _quiet
from pipeline.decisions.signing import DecisionVerifier
from pipeline.errors import DecisionRejectedError
from pipeline.ingest.lines import read_lines
from pipeline.ingest.run import ingest
from pipeline.kafka.producer import Producer
from schemas.decision import SubjectType


def peers_dir() -> Path:
    """shared/bench/peers beside the repository (RESTGUARD_PEERS overrides)."""
    env = os.environ.get("RESTGUARD_PEERS")
    if env:
        return Path(env)
    return sandbox.REPO.parent / "shared" / "bench" / "peers"


def generate(lines: int, out: Path, seed: int = 42) -> tuple[Path, Path]:
    """The peers' log and truth file (reused if the same generator already made them)."""
    log = out / f"access-{lines}-s{seed}.log"
    truth = Path(f"{log}.truth.json")
    generator = peers_dir() / "gen_log.py"
    marker = Path(f"{log}.gen")  # run.sh reuses a log whose marker names the same generator
    digest = hashlib.sha1(generator.read_bytes()).hexdigest()[:12]  # noqa: S324 - run.sh's own
    if not (
        log.is_file()
        and truth.is_file()
        and marker.is_file()
        and marker.read_text().strip() == digest
    ):
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                str(generator),
                "-n",
                str(lines),
                "--seed",
                str(seed),
                "-o",
                str(log),
                "--truth",
                str(truth),
            ],
            check=True,
            capture_output=True,
        )
        marker.write_text(digest + "\n")
    return log, truth


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_restguard(
    log: Path, truth: Path, results: Path, workers: int = 1, note: Note = _quiet
) -> dict[str, Any]:
    """Ingest the log through real workers; the peers-format result JSON."""
    lines = sum(1 for _ in log.open("rb"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ns = _namespace(workdir)
        settings = ns.create()
        procs = [
            sandbox.Worker(ns, workdir / f"worker-{i}.log", f"w{i}").start() for i in range(workers)
        ]
        try:
            cpu0 = sum(_cpu_s(p.proc.pid) for p in procs if p.proc)
            t0 = time.monotonic()
            c0 = time.process_time()
            with log.open("rb") as fh, Producer(settings.kafka) as producer:
                ingest(read_lines(fh), producer, settings, fmt="nginx", source=log.name)
            ingest_cpu = time.process_time() - c0
            note(
                f"  ingested {lines:,} lines in {time.monotonic() - t0:.1f}s; waiting for the "
                "workers to finish"
            )
            sandbox.wait_for(
                lambda: (
                    sandbox.caught_up(settings, settings.topics.requests)
                    and sandbox.caught_up(settings, settings.topics.signals)
                ),
                3600,
                "the workers to process the log",
                every=1.0,
            )
            wall = time.monotonic() - t0
            cpu = ingest_cpu + sum(_cpu_s(p.proc.pid) for p in procs if p.proc) - cpu0
            rss = max(_rss_mb(p.proc.pid) for p in procs if p.proc)
            decisions = _decisions(settings)
        finally:
            for p in procs:
                p.stop()
            ns.remove()
    banned: dict[str, float] = {}
    rules: dict[str, int] = {}
    for d in decisions:
        if d["subject_type"] != SubjectType.IP.value:
            continue
        first = d["observed_at"]
        banned[d["subject"]] = min(banned.get(d["subject"], first), first)
        rules[d["rule"]] = rules.get(d["rule"], 0) + 1
    result = {
        "tool": f"restguard {__version__} ({workers} worker{'s' if workers > 1 else ''})",
        "lines": lines,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "max_rss_mb": round(rss, 1),
        "alerts": sum(rules.values()),
        "banned_ips": banned,
        "truth": str(truth),
        "decisions_by_rule": rules,
    }
    results.mkdir(parents=True, exist_ok=True)
    (results / "5-restguard.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _decisions(settings: Any) -> list[dict[str, Any]]:
    """Every decision on the topic, verified (a forged one would not count)."""
    verifier = DecisionVerifier.from_settings(settings.decisions)
    out = []
    from kafka import TopicPartition

    from pipeline.kafka.security import consumer as new_consumer

    consumer = new_consumer(settings.kafka, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        tp = TopicPartition(settings.topics.decisions, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        for message in consumer:
            if message.value is None or message.key is None:
                continue
            try:
                d = verifier.verify(message.key.decode(), message.value)
            except DecisionRejectedError:
                continue
            out.append(
                {
                    "subject_type": d.subject_type.value,
                    "subject": d.subject,
                    "rule": d.rule,
                    "observed_at": (d.observed_at or d.issued_at).timestamp(),
                }
            )
    finally:
        consumer.close()
    return out


def table(truth: Path, results: Path) -> str:
    """The peers' own scoring table over every result JSON in the folder."""
    files = sorted(str(p) for p in results.glob("[0-9]-*.json"))
    out = subprocess.run(
        [sys.executable, str(peers_dir() / "analyze.py"), "table", str(truth), *files],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout
