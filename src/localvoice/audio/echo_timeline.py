"""The speaker's output laid on the clock, so the echo canceller's reference matches capture time.

AEC3 wants one reference frame per capture frame, in step with the microphone. Pushed as a plain
queue, the reference slides against the microphone whenever the two sides run unevenly: a reader
that falls behind lets playback pile up ahead of the capture it belongs with, and a speaker that
pauses between blocks leaves gaps the queue closes up. Placed by the clock time each block reached
the speaker, the reference for any stretch of capture time is exactly what was playing then, with
silence where nothing was.
"""

from __future__ import annotations

import numpy as np

from localvoice.events import Pcm


class ReferenceTimeline:
    """Played samples by the clock: ``lay`` what reached the speaker at a time, ``take`` a stretch."""

    def __init__(self, sample_rate_hz: int, keep_s: float) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._keep = round(keep_s * sample_rate_hz)  # at most this much waits ahead of the reader
        self._origin: int | None = None  # clock sample index of ``_samples[0]``
        self._samples = np.zeros(0, dtype=np.int16)

    @property
    def used(self) -> bool:
        """Something was laid (a timed speaker): the reference comes from here."""
        return self._origin is not None

    def lay(self, pcm: Pcm, at_s: float) -> None:
        """What the speaker played from clock time ``at_s`` on. Parts already taken are too late."""
        first = round(at_s * self.sample_rate_hz)
        if self._origin is None:
            self._origin = first
        start = first - self._origin
        if start < 0:  # its time was already handed to the canceller
            pcm, start = pcm[-start:], 0
        end = start + len(pcm)
        if end > len(self._samples):
            grown = np.zeros(end, dtype=np.int16)
            grown[: len(self._samples)] = self._samples
            self._samples = grown
        self._samples[start:end] = pcm
        if len(self._samples) > self._keep:  # nobody reads the microphone: drop the oldest
            drop = len(self._samples) - self._keep
            self._samples = self._samples[drop:]
            self._origin += drop

    def take(self, at_s: float, n: int) -> Pcm:
        """The ``n`` samples played from clock time ``at_s`` on (silence where nothing played);
        everything before their end is forgotten."""
        out = np.zeros(n, dtype=np.int16)
        if self._origin is None:
            return out
        start = round(at_s * self.sample_rate_hz) - self._origin
        lo, hi = max(0, start), min(len(self._samples), start + n)
        if hi > lo:
            out[lo - start : hi - start] = self._samples[lo:hi]
        consumed = min(len(self._samples), max(0, start + n))
        self._samples = self._samples[consumed:]
        self._origin += consumed
        return out
