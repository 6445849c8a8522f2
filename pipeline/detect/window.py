"""Sliding windows over event time, small enough to live in a table per subject.

Counts go into time buckets (window / 20 wide), so a count over the last 60 s is exact to within
one bucket and never misses a burst split across two fixed windows (the weakness of tumbling
windows). Distinct values keep their last-seen time, bounded in number."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BUCKETS = 20


@dataclass
class CountWindow:
    window: float
    buckets: list[list[float]] = field(default_factory=list)  # [bucket start, count]

    def add(self, at: float, n: int = 1) -> None:
        width = self.window / BUCKETS
        start = at - (at % width)
        for bucket in reversed(self.buckets[-3:]):
            if bucket[0] == start:
                bucket[1] += n
                return
        self.buckets.append([start, float(n)])
        self.buckets.sort(key=lambda b: b[0])

    def total(self, now: float) -> int:
        self.prune(now)
        return int(sum(b[1] for b in self.buckets))

    def prune(self, now: float) -> None:
        edge = now - self.window
        width = self.window / BUCKETS
        self.buckets = [b for b in self.buckets if b[0] + width > edge]


@dataclass
class DistinctWindow:
    window: float
    cap: int
    seen: dict[str, float] = field(default_factory=dict)  # value → last seen

    def add(self, value: str, at: float) -> None:
        if at > self.seen.get(value, float("-inf")):
            self.seen[value] = at
        if len(self.seen) > self.cap:
            for old, _ in sorted(self.seen.items(), key=lambda kv: kv[1])[
                : len(self.seen) - self.cap
            ]:
                del self.seen[old]

    def count(self, now: float) -> int:
        self.prune(now)
        return len(self.seen)

    def prune(self, now: float) -> None:
        edge = now - self.window
        self.seen = {v: t for v, t in self.seen.items() if t > edge}


def dump_count(w: CountWindow) -> list[list[float]]:
    return w.buckets


def dump_distinct(w: DistinctWindow) -> dict[str, float]:
    return w.seen


def load_count(window: float, data: Any) -> CountWindow:
    return CountWindow(window, [list(b) for b in data] if isinstance(data, list) else [])


def load_distinct(window: float, cap: int, data: Any) -> DistinctWindow:
    return DistinctWindow(window, cap, dict(data) if isinstance(data, dict) else {})
