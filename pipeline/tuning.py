"""Process tuning for the long-running, allocation-heavy services (worker, enforce serve)."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Per event the pipeline allocates many short-lived containers while it holds large caches
    (parsed headers, verified tokens, registries, decisions). With the default thresholds the
    collector rescans those caches over and over: measured, it doubled the per-event cost of
    classification. Freeze what start-up built and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
