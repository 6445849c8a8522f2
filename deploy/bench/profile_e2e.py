"""Where a worker's time goes in the e2e benchmark: py-spy samples the worker while it drains a
pre-filled requests topic into Elasticsearch, and the samples are summed by area (parse,
classify/validate, audit documents, Kafka, Elasticsearch bulk, Faust/asyncio overhead).

    .venv/bin/python deploy/bench/profile_e2e.py [--events 100000] [--seconds 20]

Needs the local services (`restguard services up`) and py-spy (a dev dependency); writes the
raw collapsed stacks to var/profile/e2e-worker.txt and prints the summary."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from pipeline import sandbox
from pipeline.bench.e2e import _namespace, _produce, cpu_seconds
from pipeline.bench.mix import build_mix
from pipeline.kafka.registry import publish

REPO = Path(__file__).resolve().parents[2]
# Frame substrings → area, the first match of a stack's innermost frames wins.
AREAS = [
    ("Elasticsearch bulk (client, HTTP, JSON)", ("elasticsearch", "elastic_transport", "aiohttp")),
    ("Kafka client (aiokafka: fetch, produce, decode)", ("aiokafka", "kafka/")),
    ("parse RequestEvents (orjson, pydantic)", ("pipeline/wire.py", "pydantic", "schemas/request")),
    (
        "classify (headers, fingerprints)",
        (
            "pipeline/auth/classify",
            "pipeline/auth/fingerprint",
            "pipeline/auth/schemes",
            "pipeline/auth/query",
        ),
    ),
    ("validate + policy (JWT, keys, rules)", ("pipeline/auth/", "jwt/", "cryptography")),
    ("audit documents and signals", ("pipeline/audit", "pipeline/detect", "pipeline/batch")),
    ("Faust / mode / asyncio machinery", ("faust/", "mode/", "asyncio/", "venusian")),
]


def area_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, needles in AREAS:
            if any(n in frame for n in needles):
                return name
    return "other (logging, GC, interpreter)"


def _py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy not found: pip install -e '.[dev]'")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    out = REPO / "var" / "profile"
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "e2e-worker.txt"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        mix = build_mix(args.events, workdir, b"bench-fingerprint-secret-0123456789", seed=1)
        extra = {
            "validation": mix.settings.validation.model_dump(mode="json"),
            "policy": mix.settings.policy.model_dump(mode="json"),
        }
        ns = _namespace(workdir, partitions=4, extra=extra)
        settings = ns.create()
        try:
            publish(settings, list(mix.registry.values()))
            _produce(ns, mix.lines())
            worker = sandbox.Worker(ns, workdir / "worker.log", "profiled").start()
            if worker.proc is None:
                raise SystemExit("the worker did not start")
            while sandbox.audit_count(settings) == 0:  # started, assigned, first bulk done
                time.sleep(0.2)
            before, t0 = cpu_seconds(worker.proc.pid), time.monotonic()
            print(f"sampling worker pid {worker.proc.pid} for {args.seconds}s", file=sys.stderr)
            subprocess.run(
                [
                    _py_spy(),
                    "record",
                    "--pid",
                    str(worker.proc.pid),
                    "--duration",
                    str(args.seconds),
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(raw),
                ],
                check=True,
                capture_output=True,
            )
            busy = (cpu_seconds(worker.proc.pid) - before) / (time.monotonic() - t0)
            worker.stop()
        finally:
            ns.remove()
    samples: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[area_of(stack)] += int(count)
    total = sum(samples.values())
    print(f"worker busy {busy:.0%} of one core while sampled; {total} samples")
    for name, n in samples.most_common():
        print(f"  {n / total:6.1%}  {name}")
    print(f"raw stacks: {raw}")


if __name__ == "__main__":
    main()
