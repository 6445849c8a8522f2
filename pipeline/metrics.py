"""Counters and gauges of a process, rendered in the Prometheus text format."""

from __future__ import annotations

Labels = tuple[tuple[str, str], ...]


class Metrics:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, Labels], float] = {}
        self.gauges: dict[tuple[str, Labels], float] = {}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self.counts[key] = self.counts.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def get(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return self.counts.get(key, self.gauges.get(key, 0))

    def snapshot(self) -> dict[str, float]:
        return {
            _series(n, labels): v for (n, labels), v in [*self.counts.items(), *self.gauges.items()]
        }

    def render(self, prefix: str) -> str:
        lines: list[str] = []
        for kind, store in (("counter", self.counts), ("gauge", self.gauges)):
            names = sorted({n for n, _ in store})
            for name in names:
                full = f"{prefix}_{name}"
                lines.append(f"# TYPE {full} {kind}")
                for (n, labels), value in sorted(store.items()):
                    if n == name:
                        lines.append(f"{_series(full, labels)} {value:g}")
        return "\n".join(lines) + "\n"


def _series(name: str, labels: Labels) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return f"{name}{{{inner}}}"
