"""What one scenario hands back: named summaries, headline numbers, per-sample details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from localvoice.bench.stats import Summary, summarize


@dataclass
class ScenarioResult:
    """``metrics`` are spreads (JSON: ``{name: {median, p90, min, max, ...}}``); ``headline`` holds the
    flat numbers a reader looks at first (JSON: ``{name: value}``)."""

    name: str
    title: str
    metrics: dict[str, Summary] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # metric → what it measures, for tables
    targets_ms: dict[str, float] = field(default_factory=dict)  # metric → target median
    headline: dict[str, float | int | str | None] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)

    def add(self, metric: str, values: list[float], label: str, target_ms: float | None = None) -> None:
        """Record the spread of ``values`` (skipped when there are none: a stage that never happened)."""
        if not values:
            self.notes.append(f"no samples for {metric}")
            return
        self.metrics[metric] = summarize(values)
        self.labels[metric] = label
        if target_ms is not None:
            self.targets_ms[metric] = target_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            **self.headline,
            **{name: summary.as_dict() for name, summary in self.metrics.items()},
            "targets_ms": dict(self.targets_ms),
            "notes": list(self.notes),
            "machine": dict(self.machine),
            "details": list(self.details),
        }
