"""What the simulated users did and how the site answered, for the progress line and the summary."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ddsketch import DDSketch

from services.metrics.sketch import new_sketch, quantiles


@dataclass
class Tally:
    actions: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    failures: Counter[str] = field(default_factory=Counter)
    latency_ms: dict[str, DDSketch] = field(default_factory=dict)
    users_registered: int = 0
    videos_refused: bool = False

    def record(self, action: str, status: int, latency_ms: float) -> None:
        self.actions[action] += 1
        self.statuses[action][status] += 1
        sketch = self.latency_ms.get(action)
        if sketch is None:
            sketch = self.latency_ms[action] = new_sketch()
        sketch.add(latency_ms)

    def fail(self, action: str, reason: str) -> None:
        self.actions[action] += 1
        self.failures[f"{action}: {reason}"] += 1

    @property
    def requests(self) -> int:
        return sum(sum(codes.values()) for codes in self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for codes in self.statuses.values() for status, n in codes.items() if status >= 500)

    def rows(self) -> list[tuple[str, int, str, str, str]]:
        """(action, count, statuses, p50, p95) per action, most frequent first."""
        rows = []
        for action, count in self.actions.most_common():
            codes = ", ".join(f"{status} x{n}" for status, n in sorted(self.statuses[action].items()))
            sketch = self.latency_ms.get(action)
            figures = quantiles(sketch) if sketch is not None else {}
            p50, p95 = figures.get("p50"), figures.get("p95")
            rows.append(
                (
                    action,
                    count,
                    codes or "-",
                    f"{p50:.0f} ms" if p50 else "-",
                    f"{p95:.0f} ms" if p95 else "-",
                )
            )
        return rows
