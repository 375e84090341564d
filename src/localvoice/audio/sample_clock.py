"""Clock times for a continuous stream of samples, steady despite callback jitter.

A time read in each audio callback wobbles: callbacks run a little early or late, and a streaming
resampler hands its output over in bursts (soxr's LQ filter, 44.1 to 16 kHz: 326-327 samples per
20 ms block, then none once a second). Laid side by side by such times, the echo canceller's
reference would gain or lose samples at every block, a stream of small jumps AEC3 keeps re-learning.
Counting samples from one anchor keeps the stream seamless; it is re-anchored only when a block
lands far off that line (a dropped stretch), which AEC3 then follows as a single change of delay.
"""

from __future__ import annotations


class SampleClock:
    """``stamp(observed_s, n)``: the time of the next ``n`` samples' first, on the anchor's line."""

    def __init__(self, sample_rate_hz: int, tolerance_s: float = 0.1) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.tolerance_s = tolerance_s
        self._anchor_s: float | None = None  # clock time of sample 0 of the stream
        self._samples = 0

    def stamp(self, observed_s: float, n: int) -> float:
        """Time of the first of ``n`` new samples, observed (with jitter) at ``observed_s``."""
        predicted = None if self._anchor_s is None else self._anchor_s + self._samples / self.sample_rate_hz
        if predicted is None or abs(observed_s - predicted) > self.tolerance_s:
            self._anchor_s = observed_s - self._samples / self.sample_rate_hz
            predicted = observed_s
        self._samples += n
        return predicted
