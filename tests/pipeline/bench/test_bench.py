"""The benchmark tooling itself: figures and the realistic mix (no services needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pipeline.bench.core import SECRET, bench_core
from pipeline.bench.mix import build_mix
from pipeline.bench.stats import Figure, percentile
from pipeline.core import build_processor
from schemas.vocabulary import Outcome


def test_the_mix_has_every_kind_of_call(tmp_path: Path) -> None:
    """The core mix holds valid JWTs from three issuers, registered keys, and failures."""
    mix = build_mix(3000, tmp_path, SECRET)
    processor = build_processor(mix.settings, SECRET, registry=mix.registry)
    outcomes: Counter[tuple[str, str]] = Counter()
    for event in mix.events:
        cls, check, _ = processor.evaluate(event)
        outcomes[(cls.scheme.value, check.outcome.value)] += 1
    assert outcomes[("bearer-jwt", Outcome.VALID.value)] > 300
    assert outcomes[("api-key", Outcome.VALID.value)] > 100
    assert outcomes[("api-key", Outcome.UNKNOWN_CREDENTIAL.value)] > 0
    assert outcomes[("malformed", Outcome.MALFORMED.value)] > 0
    assert {s for s, _ in outcomes} >= {"session-cookie", "basic", "pat", "oauth1", "anonymous"}


def test_core_figure_is_a_median_of_runs() -> None:
    """bench core reports the median of its runs and whether the target is met."""
    fig = bench_core(events=3000, runs=3)
    assert len(fig.values) == 3
    assert min(fig.values) <= fig.median <= max(fig.values)
    assert fig.met == (fig.median >= 100_000)
    assert fig.as_dict()["runs"] == 3


def test_percentile() -> None:
    """Percentiles interpolate between ranks."""
    assert percentile([1, 2, 3, 4, 5], 0.5) == 3
    assert percentile([10.0, 20.0], 0.99) == 19.9
    assert Figure("x", "ms", [3.0, 1.0, 2.0]).median == 2.0
