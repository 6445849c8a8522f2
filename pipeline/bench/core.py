"""`core`: classification + validation + policy on one core over a realistic mix."""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path

from pipeline.bench.mix import build_mix
from pipeline.bench.stats import Figure
from pipeline.core import build_processor
from pipeline.tuning import tune_gc

SECRET = b"bench-fingerprint-secret-0123456789"
TARGET = 100_000.0


def bench_core(events: int = 200_000, runs: int = 5) -> Figure:
    """Events/s of Processor.classify + judge (validate + policy) on pre-parsed events; a fresh
    processor per run, so each run verifies its tokens once and reuses them as clients do."""
    with tempfile.TemporaryDirectory() as tmp:
        mix = build_mix(events, Path(tmp), SECRET)
        rates = []
        defaults = gc.get_threshold()
        for _ in range(runs):
            processor = build_processor(mix.settings, SECRET, registry=mix.registry)
            tune_gc()  # as the worker does
            start = time.perf_counter()
            classes = processor.classify(mix.events)
            processor.prefetch(classes)
            judge = processor.judge
            for event, cls in zip(mix.events, classes, strict=True):
                judge(event, cls)
            rates.append(events / (time.perf_counter() - start))
            gc.unfreeze()
            gc.set_threshold(*defaults)
    rate = Figure(
        "core (classify+validate+policy)",
        "events/s",
        rates,
        target=f">= {TARGET:,.0f} events/s on one core",
    )
    rate.met = rate.median >= TARGET
    rate.notes["events_per_run"] = events
    return rate
