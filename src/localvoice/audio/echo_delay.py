"""Where the speaker's echo sits behind its reference, found by cross-correlation.

The device times line the reference up with the microphone only as well as the devices report their
latency; a sound server's own buffering adds what they don't (measured through PulseAudio with a
loopback: 225 ms). AEC3 finds that delay itself. The linear echo filter, 100 ms long, needs it given:
this estimator correlates the last seconds of reference and microphone (phase transform, so the
peak stays sharp on speech) and reports a delay once two estimates in a row agree.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from localvoice.events import Pcm

MAX_DELAY_S = 0.5  # beyond this AEC3 needs ``reference_delay_ms`` anyway
WINDOW_S = 2.0  # audio correlated per estimate
EVERY_S = 0.5  # how often an estimate is made while the speaker plays
_AGREE_S = 0.004  # two estimates this close agree
_SHARPNESS = 6.0  # the peak must stand this many times above the correlation's typical value


class EchoDelayEstimator:
    """``add(reference, capture)`` frame by frame; ``delay_samples`` once known (else None)."""

    def __init__(self, sample_rate_hz: int, frame_samples: int) -> None:
        self._rate = sample_rate_hz
        self._frames = round(WINDOW_S * sample_rate_hz / frame_samples)
        self._every = round(EVERY_S * sample_rate_hz / frame_samples)
        self._max_lag = round(MAX_DELAY_S * sample_rate_hz)
        self._reference: deque[Pcm] = deque(maxlen=self._frames)
        self._capture: deque[Pcm] = deque(maxlen=self._frames)
        self._since = 0
        self._candidate: int | None = None
        self.delay_samples: int | None = None

    def add(self, reference: Pcm, capture: Pcm) -> None:
        self._reference.append(reference)
        self._capture.append(capture)
        self._since += 1
        if self._since >= self._every and len(self._reference) == self._frames:
            self._since = 0
            self._estimate()

    def _estimate(self) -> None:
        far = np.concatenate(self._reference).astype(np.float64)
        near = np.concatenate(self._capture).astype(np.float64)
        if np.mean(far**2) < 1e4:  # the speaker was (nearly) silent: nothing to learn from
            return
        lag = _peak_lag(far, near, self._max_lag)
        if lag is None:
            return
        if self._candidate is not None and abs(lag - self._candidate) <= _AGREE_S * self._rate:
            self.delay_samples = lag
        self._candidate = lag


def _peak_lag(far: npt.NDArray[np.float64], near: npt.NDArray[np.float64], max_lag: int) -> int | None:
    """The lag (0..max_lag samples) by which ``near`` follows ``far``, if the peak is clear."""
    n = 1 << int(np.ceil(np.log2(2 * len(far))))
    cross = np.fft.rfft(near, n) * np.conj(np.fft.rfft(far, n))
    cross /= np.abs(cross) + 1e-9
    correlation = np.abs(np.fft.irfft(cross, n)[: max_lag + 1])
    peak = int(np.argmax(correlation))
    typical = float(np.median(correlation)) + 1e-12
    return peak if correlation[peak] >= _SHARPNESS * typical else None
