"""Summary statistics of benchmark samples: median, p90, extremes and jitter, in one shape."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Summary:
    """The spread of one measured quantity (all values in the unit of the samples, usually ms)."""

    n: int
    median: float
    p90: float
    min: float
    max: float
    mean: float
    stdev: float  # jitter; 0 for fewer than two samples

    def as_dict(self, digits: int = 2) -> dict[str, float | int]:
        return {
            "n": self.n,
            "median": round(self.median, digits),
            "p90": round(self.p90, digits),
            "min": round(self.min, digits),
            "max": round(self.max, digits),
            "mean": round(self.mean, digits),
            "stdev": round(self.stdev, digits),
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation between ranks (numpy's default method)."""
    if not values:
        raise ValueError("no samples to take a percentile of")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summarize(values: Sequence[float]) -> Summary:
    """Summary of the samples; raises ``ValueError`` when there are none."""
    if not values:
        raise ValueError("no samples to summarize")
    data = [float(v) for v in values]
    return Summary(
        n=len(data),
        median=statistics.median(data),
        p90=percentile(data, 90),
        min=min(data),
        max=max(data),
        mean=statistics.fmean(data),
        stdev=statistics.stdev(data) if len(data) > 1 else 0.0,
    )


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator ÷ denominator, or None when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else None
