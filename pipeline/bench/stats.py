"""A benchmark figure: the median of repeated runs, with its spread."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    name: str
    unit: str
    values: list[float]
    target: str | None = None
    met: bool | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": round(self.median, 3),
            "min": round(min(self.values), 3),
            "max": round(max(self.values), 3),
            "runs": len(self.values),
            "values": [round(v, 3) for v in self.values],
            "target": self.target,
            "met": self.met,
            **self.notes,
        }

    def line(self) -> str:
        spread = f"[{min(self.values):,.1f} … {max(self.values):,.1f}]"
        verdict = "" if self.met is None else ("  ✓ target " if self.met else "  ✗ target ")
        return (
            f"{self.name:<34} {self.median:>12,.1f} {self.unit:<10} {spread:<28}"
            f"{verdict}{self.target or ''}"
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
